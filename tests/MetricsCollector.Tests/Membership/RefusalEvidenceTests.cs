using MetricsCollector.Membership;

namespace MetricsCollector.Tests.Membership;

public sealed class RefusalEvidenceTests
{
    private static readonly DateTime T0 = new(2026, 11, 28, 12, 0, 0, DateTimeKind.Utc);

    private static RefusalEvidence<string> Evidence() => new(refusalsNeeded: 3, spanNeeded: TimeSpan.FromMilliseconds(400));

    [Fact]
    public void A_streak_of_refusals_spread_over_the_span_shows_the_member_gone()
    {
        var evidence = Evidence();
        evidence.Refused("c", T0);
        evidence.Refused("c", T0.AddMilliseconds(250));
        Assert.False(evidence.IsGone("c"));
        evidence.Refused("c", T0.AddMilliseconds(500));
        Assert.True(evidence.IsGone("c"));
        Assert.False(evidence.IsGone("b"));
        Assert.Equal((3, TimeSpan.FromMilliseconds(500)), evidence.Describe("c"));
    }

    [Fact]
    public void Refusals_in_a_burst_are_not_enough()
    {
        var evidence = Evidence();
        for (var i = 0; i < 10; i++) evidence.Refused("c", T0.AddMilliseconds(30 * i));
        Assert.False(evidence.IsGone("c"));
    }

    [Fact]
    public void Any_other_answer_starts_the_streak_over()
    {
        var evidence = Evidence();
        evidence.Refused("c", T0);
        evidence.Refused("c", T0.AddMilliseconds(250));
        evidence.NotRefused("c");
        evidence.Refused("c", T0.AddMilliseconds(500));
        evidence.Refused("c", T0.AddMilliseconds(750));
        Assert.False(evidence.IsGone("c"));
        evidence.Refused("c", T0.AddMilliseconds(1000));
        Assert.True(evidence.IsGone("c"));
    }
}
