using System.CommandLine;
using System.Globalization;
using MetricsCollector.Core.Digests;
using MetricsCollector.Core.Windows;
using MetricsCollector.Testing;

namespace MetricsCollector.Benchmarks;

/// <summary>
/// `bounds [devices] [minutes] [events per second per device]`: how wide the rows' percentile
/// bounds are. The product's generator (CPU-like readings of 2–3 decimals, 5 % out of order, 1 %
/// late, 0.5 % too late) feeds 30m/1m windows (bound and allowed lateness 5 min) through the
/// decoder, one watermark, the device timers and <see cref="DeviceWindows"/>, as a partition
/// does; the exact oracle keeps every value of every window beside it. For each final row and
/// each of p50, p95 and p99: the width High − Low, in percentage points of CPU and as the share
/// of the window's values that lie inside the bounds. A row whose bounds miss the exact
/// percentile fails the command: the bounds are a guarantee, so this is a check as well as a
/// measurement. Only windows that lie wholly inside the generated stretch of event time count
/// (the first and last half hour hold windows the stream only partly covers). Deterministic
/// (fixed seed), not a timing.
/// </summary>
internal static class BoundsWidth
{
    private static readonly (string Name, double Q)[] Percentiles = [("p50", 0.50), ("p95", 0.95), ("p99", 0.99)];

    public static Command Command()
    {
        var devices = Arguments.Positive("devices", 100, "Devices of the generated stream.");
        var minutes = Arguments.Positive("minutes", 90.0, "Minutes of event time.");
        var perSecond = Arguments.Positive("per-second", 1.0, "Events per second per device.");
        var command = new Command("bounds", "How wide the rows' percentile bounds are, checked against the exact oracle: exits 1 if a row's bounds miss the exact percentile.")
        {
            devices, minutes, perSecond,
        };
        command.SetAction(parse => Run(parse.GetValue(devices), parse.GetValue(minutes), parse.GetValue(perSecond)));
        return command;
    }

    private static int Run(int devices, double minutes, double perSecond)
    {
        var rows = Feed(devices, TimeSpan.FromMinutes(minutes), perSecond, out var oracle)
            .Where(r => r.WindowStart >= ProductStream.Start.ToUnixTimeMilliseconds() && r.WindowEnd <= ProductStream.Start.AddMinutes(minutes).ToUnixTimeMilliseconds())
            .ToList();
        var counts = rows.Select(r => (double)r.Count).Order().ToArray();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"30m/1m windows, bound and lateness 5 min, {devices:N0} devices × {perSecond:0.##} event/s for {minutes:0.#} min of event time: "
            + $"{rows.Count:N0} final rows of windows the stream covers, median {Median(counts):N0} values a window (p1 {Percentile(counts, 0.01):N0}, p99 {Percentile(counts, 0.99):N0})"));
        Console.WriteLine();
        Console.WriteLine("| percentile | median width | p99 width | max width | median share of the window inside | p99 share inside | rows missing the exact value |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        var missed = 0;
        foreach (var (name, q) in Percentiles)
        {
            var widths = new List<double>(rows.Count);
            var shares = new List<double>(rows.Count);
            var misses = 0;
            foreach (var row in rows)
            {
                var range = name switch { "p50" => row.Bounds.P50, "p95" => row.Bounds.P95, _ => row.Bounds.P99 };
                var values = oracle.Windows[(row.DeviceId, row.WindowEnd)].Values.Order().ToArray();
                var (lowest, highest) = RankOracle.ExactAnswers(values, q);
                if (!(range.Low <= lowest && highest <= range.High))
                {
                    misses++;
                }

                widths.Add(range.High - range.Low);
                shares.Add((double)values.Count(range.Contains) / values.Length);
            }

            missed += misses;
            var w = widths.Order().ToArray();
            var s = shares.Order().ToArray();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {Median(w):0.00} | {Percentile(w, 0.99):0.00} | {w[^1]:0.00} | {Median(s):P2} | {Percentile(s, 0.99):P2} | {misses} |"));
        }

        Console.WriteLine();
        Console.WriteLine("Widths in percentage points of CPU; a share is the fraction of the window's values that lie inside the bounds.");
        return missed == 0 ? 0 : 1;
    }

    /// <summary>The generator's events through the core as a partition drives it; the final row of every window.</summary>
    private static List<WindowResult> Feed(int deviceCount, TimeSpan duration, double perSecond, out ExactWindowOracle oracle)
    {
        var exact = new ExactWindowOracle(
            (long)ProductStream.Size.TotalMilliseconds, (long)ProductStream.Slide.TotalMilliseconds,
            (long)ProductStream.Lateness.TotalMilliseconds, (long)ProductStream.Bound.TotalMilliseconds);
        var rows = new List<WindowResult>();
        var stream = new ProductStream(part =>
        {
            if (part.Row.Final) rows.Add(part.Row);
        });
        long position = 0;
        foreach (var planned in ProductStream.Plan(deviceCount, perSecond, duration, invalidFraction: 0))
        {
            // The oracle judges each event by a watermark of its own, kept by the same rule.
            if (stream.Feed(planned.Value) is { } evt) exact.Record(0, position++, evt.DeviceId, evt.Timestamp, evt.CpuUsage);
        }

        stream.Finish();
        oracle = exact;
        return rows;
    }

    private static double Median(double[] sorted) => Percentile(sorted, 0.5);

    private static double Percentile(double[] sorted, double p) => sorted[(int)Math.Min(sorted.Length - 1, Math.Floor(p * sorted.Length))];
}
