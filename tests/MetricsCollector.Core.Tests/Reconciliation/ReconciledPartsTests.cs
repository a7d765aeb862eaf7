using MetricsCollector.Core.Digests;
using MetricsCollector.Core.Events;
using MetricsCollector.Core.Reconciliation;
using MetricsCollector.Core.Windows;

namespace MetricsCollector.Core.Tests.Reconciliation;

public sealed class ReconciledPartsTests
{
    // 60 s windows sliding by 10 s: an event lands in six windows.
    private static readonly WindowSettings Windows = WindowSettings.Create(TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(5));

    [Theory]
    [InlineData(1_000_000_000L)]
    [InlineData(1_000_009_999L)]
    [InlineData(0L)]
    public void An_event_lands_in_every_window_whose_span_holds_it_and_no_other(long time)
    {
        var ends = ReconciledParts.EndsHolding(Windows.Spec, time).ToList();

        Assert.Equal(6, ends.Count);
        Assert.All(ends, end => Assert.True(Windows.Spec.StartOf(end) <= time && time < end, $"{time} not in window ending {end}"));
        // The windows just outside: the one ending at or before it, and the one starting after it.
        Assert.False(ends.Contains(ends[0] - Windows.Spec.Slide) || Windows.Spec.StartOf(ends[^1] + Windows.Spec.Slide) <= time);
    }

    [Fact]
    public void New_windows_get_a_final_part_at_revision_one_holding_exactly_their_events()
    {
        CpuEvent[] events = [new("b", 1_000_005_000, 10), new("a", 1_000_005_000, 20), new("a", 1_000_012_000, 30)];

        var parts = ReconciledParts.Fold(Windows, events, new Dictionary<(string, long), WindowPart>(), now: 42);

        Assert.All(parts, p => Assert.Equal((ReconciledParts.Partition, 1, true, 42L), (p.Partition, p.Row.Revision, p.Row.Final, p.Row.LastUpdated)));
        Assert.Equal(ReconciledParts.WindowsOf(Windows.Spec, events), parts.Select(p => (p.Row.DeviceId, p.Row.WindowEnd)).ToList());
        foreach (var part in parts)
        {
            var expected = events.Where(e => e.DeviceId == part.Row.DeviceId && Windows.Spec.StartOf(part.Row.WindowEnd) <= e.Timestamp && e.Timestamp < part.Row.WindowEnd).ToList();
            Assert.Equal(expected.Count, part.Row.Count);
            Assert.Equal(expected.Sum(e => e.CpuUsage), TDigest.FromBytes(part.Digest).Sum);
            Assert.Equal(Windows.Spec.StartOf(part.Row.WindowEnd), part.Row.WindowStart);
        }
    }

    [Fact]
    public void A_stored_part_gains_the_events_and_one_revision_per_fold_and_the_same_input_gives_the_same_bytes()
    {
        CpuEvent first = new("a", 1_000_005_000, 10);
        var once = ReconciledParts.Fold(Windows, [first], new Dictionary<(string, long), WindowPart>(), now: 1);
        var stored = once.ToDictionary(p => (p.Row.DeviceId, p.Row.WindowEnd));

        var twice = ReconciledParts.Fold(Windows, [new("a", 1_000_006_000, 50)], stored, now: 2);
        var again = ReconciledParts.Fold(Windows, [new("a", 1_000_006_000, 50)], stored, now: 2);

        Assert.All(twice, p => Assert.Equal((2, 2L, 60.0), (p.Row.Revision, p.Row.Count, TDigest.FromBytes(p.Digest).Sum)));
        Assert.Equal(twice.Select(p => p.Digest), again.Select(p => p.Digest));
    }

    [Fact]
    public void No_events_no_parts() =>
        Assert.Empty(ReconciledParts.Fold(Windows, [], new Dictionary<(string, long), WindowPart>(), now: 0));
}
