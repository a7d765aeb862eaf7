using CsCheck;
using MetricsCollector.Core.Windows;

namespace MetricsCollector.Core.Tests.Windows;

/// <summary>The top rows of a window by a figure, against a sort of all of them in ranking order.</summary>
public sealed class RankByTests
{
    [Fact]
    public void Top_n_equals_the_first_n_of_all_rows_sorted_in_ranking_order() =>
        Gen.Select(Gen.Int[0, 400], Gen.Int[0, 450], Gen.Enum<RankBy>(), Gen.Int[1, 6], Gen.Int)
            .Sample((count, n, by, values, seed) =>
            {
                // Few distinct figures and ids out of order, so that ties by figure are common and ids decide them.
                var random = new Random(seed);
                var rows = Enumerable.Range(0, count)
                    .Select(i => Row($"d{random.Next(10_000)}-{i}", random.Next(values) * 10.0))
                    .ToList();

                var top = by.Top(rows, n);

                Assert.Equal(rows.Order(by.Comparer()).Take(n), top);
            }, iter: 400);

    [Fact]
    public void Top_zero_is_empty_and_a_negative_count_is_refused()
    {
        Assert.Empty(RankBy.P95.Top([Row("a", 1)], 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => RankBy.P95.Top([Row("a", 1)], -1));
    }

    private static WindowResult Row(string device, double figure) =>
        new(device, 0, 60_000, figure, figure, figure, figure, figure, figure, figure, 1, 1, false, 0, PercentileBounds.Within(0, 100));
}
