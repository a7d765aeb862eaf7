using MetricsCollector.Partitions;

namespace MetricsCollector.Tests.Partitions;

public sealed class CommitStallTests
{
    private const long After = 60_000;

    [Fact]
    public void A_commit_that_trails_reading_but_moves_is_never_reported()
    {
        var stall = new CommitStall(After);
        // Commits 15 s behind the reading, as snapshots every 15 s make them, for an hour.
        for (long t = 0, committed = 0; t < 3_600_000; t += 1_000)
        {
            if (t % 15_000 == 0) committed = t;
            Assert.Equal(default, stall.Check(t, committed, read: t + 1));
        }
    }

    [Fact]
    public void A_partition_that_has_read_nothing_past_its_commit_is_not_stalled_however_long_it_waits()
    {
        var stall = new CommitStall(After);
        for (long t = 0; t < 10 * After; t += 1_000) Assert.Equal(default, stall.Check(t, committed: 500, read: 500));
    }

    [Fact]
    public void A_standstill_is_reported_after_the_threshold_then_once_per_threshold_and_once_when_it_ends()
    {
        var stall = new CommitStall(After);
        var verdicts = new List<(long At, CommitStallVerdict Verdict)>();
        for (long t = 0; t <= 200_000; t += 1_000)
        {
            var verdict = stall.Check(t, committed: 100, read: 100 + t);
            if (verdict != default) verdicts.Add((t, verdict));
        }
        verdicts.Add((201_000, stall.Check(201_000, committed: 150, read: 300_000)));

        Assert.Equal(
            [
                (60_000L, new CommitStallVerdict(CommitStallState.Stalled, 60_000)),
                (120_000L, new CommitStallVerdict(CommitStallState.Stalled, 120_000)),
                (180_000L, new CommitStallVerdict(CommitStallState.Stalled, 180_000)),
                (201_000L, new CommitStallVerdict(CommitStallState.Resumed, 201_000)),
            ],
            verdicts);
        // A new standstill counts from the commit that ended the last one.
        Assert.Equal(default, stall.Check(201_000 + After - 1, committed: 150, read: 300_000));
        Assert.Equal(new CommitStallVerdict(CommitStallState.Stalled, After), stall.Check(201_000 + After, committed: 150, read: 300_000));
    }
}
