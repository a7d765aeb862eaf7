using Confluent.Kafka;
using MetricsCollector.Partitions;

namespace MetricsCollector.Tests.Partitions;

public sealed class SideOutputsTests
{
    private static readonly SideOutputSettings Settings = new()
    {
        MaxRecordBytes = 1_000_000,
        MaxPendingBytes = 10_000,
        FirstRetry = TimeSpan.FromMilliseconds(500),
        MaxRetry = TimeSpan.FromSeconds(4),
    };

    private static SideOutputs New(IReadOnlyDictionary<long, long>? earlier = null) =>
        new([new SideLedger("dlq", 3, 100, earlier ?? new Dictionary<long, long>()), new SideLedger("late", 3, 0, new Dictionary<long, long>())], Settings);

    [Fact]
    public void A_record_an_earlier_owner_delivered_is_not_sent_again()
    {
        var sides = New(new Dictionary<long, long> { [7] = 95 });
        Assert.Null(sides.Divert(7, "dlq", null, [1], "not-json"));
        var record = sides.Divert(8, "dlq", [9], [1, 2], "not-json")!;
        Assert.Equal(("dlq", 3, (int?)null), (record.Topic, record.Partition, record.OriginalSize));
        Assert.Equal(8, sides.LowestPending);
    }

    [Fact]
    public void A_record_larger_than_the_producer_takes_is_cut_before_it_is_sent()
    {
        var sides = New();
        var value = new byte[1_100_000];
        var record = sides.Divert(1, "dlq", [1, 2, 3], value, "too-large")!;
        Assert.Equal(1_100_000, record.OriginalSize);
        Assert.True(record.Size <= Settings.MaxRecordBytes - 1_000, $"{record.Size} bytes");
    }

    [Fact]
    public void A_topic_that_refuses_the_size_gets_halves_until_it_takes_one_and_later_records_start_there()
    {
        var sides = New();
        var record = sides.Divert(1, "dlq", null, new byte[400_000], "too-large")!;
        Assert.Null(record.OriginalSize);

        var retry = sides.Failed(1, ErrorCode.MsgSizeTooLarge)!;
        Assert.Equal((TimeSpan.Zero, 0, 200_000, (int?)400_000), (retry.Delay, retry.Attempts, retry.Record.Value.Length, retry.Record.OriginalSize));
        retry = sides.Failed(1, ErrorCode.MsgSizeTooLarge)!;
        Assert.Equal((100_000, (int?)400_000), (retry.Record.Value.Length, retry.Record.OriginalSize));
        Assert.False(sides.HeldBack);
        Assert.Equal(100_000, sides.PendingBytes);

        sides.Delivered(1, 101);
        Assert.Equal(100_000, sides.Divert(2, "dlq", null, new byte[300_000], "too-large")!.Value.Length);
        // Another topic keeps its own limit.
        Assert.Equal(300_000, sides.Divert(3, "late", null, new byte[300_000], "too-late")!.Value.Length);
    }

    [Fact]
    public void Other_failures_are_retried_with_a_backoff_that_doubles_up_to_its_maximum_and_hold_the_partition_back()
    {
        var sides = New();
        sides.Divert(5, "dlq", null, [1], "not-json");
        var delays = Enumerable.Range(0, 6).Select(_ => sides.Failed(5, ErrorCode.TopicAuthorizationFailed)!.Delay.TotalMilliseconds).ToList();
        Assert.Equal([500, 1_000, 2_000, 4_000, 4_000, 4_000], delays);
        Assert.True(sides.HeldBack);
        Assert.Equal(5, sides.LowestPending);

        sides.Delivered(5, 100);
        Assert.False(sides.HeldBack);
        Assert.Null(sides.LowestPending);
        // The delivered record moved the ledger: marks taken from now on lie past it.
        Assert.Equal(101, sides.MarksAt(6).Single(m => m.Topic == "dlq").Offset);
    }

    [Fact]
    public void A_tiny_record_refused_as_too_large_is_not_cut_further_but_retried()
    {
        var sides = New();
        sides.Divert(5, "dlq", null, new byte[100], "not-json");
        var retry = sides.Failed(5, ErrorCode.MsgSizeTooLarge)!;
        Assert.Equal((1, 100), (retry.Attempts, retry.Record.Value.Length));
        Assert.True(sides.HeldBack);
    }

    [Fact]
    public void Pending_bytes_have_a_bound_at_which_the_partition_must_wait()
    {
        var sides = New();
        for (var offset = 0; offset < 9; offset++) sides.Divert(offset, "late", null, new byte[1_000], "too-late");
        Assert.False(sides.Full);
        sides.Divert(9, "late", null, new byte[1_000], "too-late");
        Assert.True(sides.Full);
        sides.Delivered(0, 0);
        Assert.False(sides.Full);
    }

    [Fact]
    public void A_failure_of_a_record_no_longer_pending_changes_nothing()
    {
        var sides = New();
        sides.Divert(5, "dlq", null, [1], "not-json");
        sides.Delivered(5, 100);
        Assert.Null(sides.Failed(5, ErrorCode.Unknown));
        Assert.False(sides.HeldBack);
    }
}
