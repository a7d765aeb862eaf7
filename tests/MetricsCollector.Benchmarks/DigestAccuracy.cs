using MetricsCollector.Testing;
using System.CommandLine;
using System.Globalization;
using System.Text;
using MetricsCollector.Core.Digests;

namespace MetricsCollector.Benchmarks;

/// <summary>
/// Prints, as a markdown table, the rank error of <see cref="TDigest"/> against the exact sorted
/// data: for the value v a digest returns at q, the exact data put v at ranks
/// [#values &lt; v, #values ≤ v] / n, and the error is q's distance to that interval (0 inside it),
/// so ties in coarse data are not counted as error.
/// </summary>
public static class DigestAccuracy
{
    private const int N = 1_000_000;
    private const int Panes = 30;
    private static readonly double[] Quantiles = [0.5, 0.9, 0.95, 0.99, 0.999];

    public static Command Command()
    {
        var command = new Command("accuracy", "The t-digest's rank error against the exact data, as a markdown table.");
        command.SetAction(_ => Run(Console.Out));
        return command;
    }

    public static void Run(TextWriter output)
    {
        var sets = new (string Name, double[] Values)[]
        {
            ("uniform [0,100)", DigestData.Uniform(N, seed: 1)),
            ("CPU-like, 2 decimals", DigestData.CpuTwoDecimals(N, seed: 2)),
            ("normal (μ 50, σ 15)", DigestData.Normal(N, seed: 3)),
        };

        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"Rank error in ppm on {N:N0} values; \"30 panes\" = the same values cut into {Panes} consecutive pieces, one digest each, merged into one pane by pane (Merge) or all at once (MergeAll).");
        text.AppendLine();
        text.Append("| data | δ | digest |");
        foreach (var q in Quantiles)
        {
            text.Append(CultureInfo.InvariantCulture, $" q={q} |");
        }

        text.AppendLine(" centroids | bytes |");
        text.Append("|---|---|---|");
        foreach (var _ in Quantiles)
        {
            text.Append("---:|");
        }

        text.AppendLine("---:|---:|");

        foreach (var (name, values) in sets)
        {
            var sorted = (double[])values.Clone();
            Array.Sort(sorted);
            foreach (var compression in new[] { 100.0, 200.0 })
            {
                var single = new TDigest(compression);
                foreach (var v in values)
                {
                    single.Add(v);
                }

                var merged = new TDigest(compression);
                var panes = new TDigest[Panes];
                var paneSize = values.Length / Panes;
                for (var p = 0; p < Panes; p++)
                {
                    var pane = new TDigest(compression);
                    var end = p == Panes - 1 ? values.Length : (p + 1) * paneSize;
                    for (var i = p * paneSize; i < end; i++)
                    {
                        pane.Add(values[i]);
                    }

                    merged.Merge(pane);
                    panes[p] = pane;
                }

                var mergedAll = TDigest.MergeAll(panes, compression);
                foreach (var (label, digest) in new[] { ("one", single), ($"{Panes} panes, one by one", merged), ($"{Panes} panes, MergeAll", mergedAll) })
                {
                    text.Append(CultureInfo.InvariantCulture, $"| {name} | {compression} | {label} |");
                    foreach (var q in Quantiles)
                    {
                        var error = RankOracle.RankError(sorted, q, digest.Quantile(q));
                        text.Append(CultureInfo.InvariantCulture, $" {error * 1e6:F0} |");
                    }

                    text.AppendLine(CultureInfo.InvariantCulture, $" {digest.CentroidCount} | {digest.GetSerializedSize()} |");
                }
            }
        }

        text.AppendLine();
        text.AppendLine("Managed memory retained per digest (CPU-like values, δ = 100; 10,000 digests, GC.GetTotalMemory before/after):");
        text.AppendLine();
        text.AppendLine("| values | state | bytes per digest |");
        text.AppendLine("|---:|---|---:|");
        foreach (var (n, compact) in new[] { (60, false), (60, true), (1_000, false), (1_000, true) })
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"| {n} | {(compact ? "after Compact()" : "live (buffer not merged)")} | {RetainedBytes(n, compact):F0} |");
        }

        output.Write(text.ToString());
    }

    private static double RetainedBytes(int n, bool compact)
    {
        const int digests = 10_000;
        var values = DigestData.CpuTwoDecimals(n, seed: 9);
        var kept = new TDigest[digests];
        var before = GC.GetTotalMemory(forceFullCollection: true);
        for (var d = 0; d < digests; d++)
        {
            var digest = new TDigest();
            foreach (var v in values)
            {
                digest.Add(v);
            }

            if (compact)
            {
                digest.Compact();
            }

            kept[d] = digest;
        }

        var after = GC.GetTotalMemory(forceFullCollection: true);
        GC.KeepAlive(kept);
        return (double)(after - before) / digests;
    }
}
