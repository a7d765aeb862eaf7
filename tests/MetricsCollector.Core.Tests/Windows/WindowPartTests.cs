using CsCheck;
using MetricsCollector.Core.Digests;
using MetricsCollector.Core.Windows;
using MetricsCollector.Testing;

namespace MetricsCollector.Core.Tests.Windows;

/// <summary>Merging a window's parts: the figures of all their values together, whatever their order.</summary>
public sealed class WindowPartTests
{
    private static WindowPart Part(int partition, int revision, bool final, long lastUpdated, params double[] values)
    {
        var digest = new TDigest();
        foreach (var value in values) digest.Add(value);
        var merged = TDigest.MergeAll([digest]);
        return new WindowPart(partition, WindowResult.Of("d", 0, 60_000, merged, revision, final, lastUpdated), merged.ToBytes());
    }

    [Fact]
    public void One_part_is_the_row_unchanged()
    {
        var part = Part(3, 4, false, 99, 1, 2, 3);
        Assert.Same(part.Row, WindowPart.Merge([part]));
    }

    [Fact]
    public void Revisions_add_up_final_needs_every_part_and_last_updated_is_the_latest()
    {
        var row = WindowPart.Merge([Part(0, 2, true, 50, 10, 20), Part(1, 3, false, 70, 30), Part(2, 1, true, 60, 40)]);
        Assert.Equal((6, false, 70L, 4L, 10.0, 40.0, 25.0), (row.Revision, row.Final, row.LastUpdated, row.Count, row.Min, row.Max, row.Mean));
        Assert.True(WindowPart.Merge([Part(0, 1, true, 1, 5), Part(1, 1, true, 1, 6)]).Final);
    }

    [Fact]
    public void Parts_of_different_windows_do_not_merge()
    {
        var other = Part(1, 1, false, 0, 5);
        Assert.Throws<ArgumentException>(() => WindowPart.Merge([Part(0, 1, false, 0, 5), other with { Row = other.Row with { WindowEnd = 70_000 } }]));
        Assert.Throws<ArgumentException>(() => WindowPart.Merge([]));
    }

    [Fact]
    public void The_merge_of_random_parts_has_the_exact_figures_of_all_their_values_in_any_order() =>
        // CPU readings as devices send them: hundredths of a percent.
        Gen.Int[0, 10_000].Select(i => i / 100.0).Array[1, 400].Array[1, 5]
            .Sample(groups =>
            {
                var parts = groups.Select((values, i) => Part(i, 1, false, 0, values)).ToList();
                var all = groups.SelectMany(v => v).Order().ToArray();
                // The percentiles may differ by order within the bound (a centroid sorts among equal means
                // by input order); the store merges a window's parts in partition order.
                foreach (var row in new[] { WindowPart.Merge(parts), WindowPart.Merge(parts.AsEnumerable().Reverse().ToList()) })
                {
                    Assert.Equal(all.Length, row.Count);
                    Assert.Equal(all[0], row.Min);
                    Assert.Equal(all[^1], row.Max);
                    Assert.True(Math.Abs(all.Average() - row.Mean) <= 1e-9 * Math.Max(1, all.Average()));
                    Assert.Equal(parts.Count, row.Revision);
                    var bounds = row.Bounds;
                    foreach (var (q, value, range) in new[] { (0.5, row.P50, bounds.P50), (0.9, row.P90, bounds.P90), (0.95, row.P95, bounds.P95), (0.99, row.P99, bounds.P99) })
                    {
                        Assert.True(RankOracle.RankError(all, q, value) <= 0.5 * RankOracle.CentroidSizeBound(q, 100) + 2.0 / all.Length,
                            $"q={q} -> {value} (n={all.Length}, {parts.Count} parts)");
                        var (lowest, highest) = RankOracle.ExactAnswers(all, q);
                        Assert.True(range.Low <= lowest && highest <= range.High && range.Contains(value),
                            $"q={q}: bounds {range} of {value} miss the exact [{lowest}, {highest}] (n={all.Length}, {parts.Count} parts)");
                    }
                }
            }, iter: 300);
}
