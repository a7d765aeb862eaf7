using MetricsCollector.Ingest;

namespace MetricsCollector.Tests.Ingest;

public sealed class ReadAgainDelayTests
{
    private static readonly TimeSpan Max = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 1)]
    [InlineData(3, 3)]
    [InlineData(4, 7)]
    [InlineData(5, 15)]
    [InlineData(6, 30)]
    [InlineData(20, 30)]
    public void An_end_that_repeats_backs_off_doubling_up_to_the_bound(int repeats, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), ReadAgainDelay.For(repeats, outOfRangeAt: null, logStart: null, Max));

    [Fact]
    public void A_partition_whose_next_offset_retention_deleted_reads_on_at_once_however_often_it_happens()
    {
        // A node far behind on a broker that keeps little: each time it catches the log's start, retention has
        // moved it again. Waiting would only lose more records.
        Assert.Equal(TimeSpan.Zero, ReadAgainDelay.For(repeats: 6, outOfRangeAt: 1_467_758, logStart: 1_539_238, Max));
        Assert.True(ReadAgainDelay.OvertakenByRetention(1_467_758, 1_539_238));
    }

    [Fact]
    public void An_offset_past_a_log_that_still_starts_below_it_is_a_replaced_log_and_backs_off()
    {
        // A topic created again: its new log starts at 0 and ends below where the partition was.
        Assert.Equal(TimeSpan.FromSeconds(3), ReadAgainDelay.For(repeats: 3, outOfRangeAt: 500, logStart: 0, Max));
        Assert.False(ReadAgainDelay.OvertakenByRetention(500, 500));
    }

    [Fact]
    public void When_the_log_start_cannot_be_read_it_backs_off_as_any_other_end() =>
        Assert.Equal(TimeSpan.FromSeconds(3), ReadAgainDelay.For(repeats: 3, outOfRangeAt: 100, logStart: null, Max));
}
