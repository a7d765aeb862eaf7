using MetricsCollector.Observability;

namespace MetricsCollector.Tests.Observability;

public sealed class CatchUpTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeSeconds(1_764_307_800);

    [Fact]
    public void A_node_behind_says_how_far_how_fast_and_how_long_then_once_that_it_caught_up()
    {
        var catchUp = new CatchUp(threshold: 10_000);

        // The first report has no rate yet.
        Assert.Equal("Catching up: 1,000,000 records behind, taking 0 records/s", catchUp.Report(1_000_000, 0, T0));
        // 500,000 taken in 10 s: 50,000/s, and 600,000 left is 12 s.
        Assert.Equal("Catching up: 600,000 records behind, taking 50,000 records/s, about 12 s to go", catchUp.Report(600_000, 500_000, T0.AddSeconds(10)));
        // 6,000/s with 1.2M left: 3 min 20 s.
        Assert.Equal("Catching up: 1,200,000 records behind, taking 6,000 records/s, about 3 min 20 s to go", catchUp.Report(1_200_000, 560_000, T0.AddSeconds(20)));
        Assert.Equal("Caught up: 12 records behind", catchUp.Report(12, 1_760_000, T0.AddSeconds(30)));
        Assert.Null(catchUp.Report(0, 1_770_000, T0.AddSeconds(40)));
    }

    [Fact]
    public void A_node_that_keeps_up_says_nothing() =>
        Assert.All(Enumerable.Range(0, 5), i => Assert.Null(new CatchUp(10_000).Report(9_999, i * 1_000, T0.AddSeconds(i))));
}
