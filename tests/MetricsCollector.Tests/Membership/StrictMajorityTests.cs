using MetricsCollector.Membership;

namespace MetricsCollector.Tests.Membership;

public sealed class StrictMajorityTests
{
    [Theory]
    [InlineData(3, 1, true)]
    [InlineData(3, 2, false)]
    [InlineData(2, 1, false)]
    [InlineData(4, 2, false)]
    [InlineData(5, 2, true)]
    [InlineData(1, 0, true)]
    public void Only_a_strict_majority_still_answering_may_down(int members, int lost, bool allowed)
    {
        var counted = Enumerable.Range(0, members).ToList();
        Assert.Equal(allowed, StrictMajority.Remains(counted, m => m < lost));
    }
}
