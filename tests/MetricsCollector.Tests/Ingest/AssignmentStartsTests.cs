using Confluent.Kafka;
using MetricsCollector.Ingest;
using MetricsCollector.Partitions;

namespace MetricsCollector.Tests.Ingest;

public sealed class AssignmentStartsTests
{
    private static readonly TopicPartition Partition = new("iot.device.events.dev", 3);

    private static readonly PartitionProgress Checkpoint =
        new(1_200, 1_764_307_200_000, TimerDictionary.Of(new Dictionary<string, long> { ["device-1"] = 1_764_307_260_000 }), "cluster");

    /// <summary>
    /// Rebalances back to back: the partition is assigned, revoked and assigned again before the substream sink
    /// starts the first assignment's actor. That late actor (on a finished substream) and the second assignment's
    /// both start from the checkpoint, not one of them from the beginning of the log with no watermark and no
    /// timers (its devices waiting for their last windows would never be woken).
    /// </summary>
    [Fact]
    public void An_actor_started_after_its_partition_was_assigned_again_leaves_the_start_for_the_next()
    {
        var starts = new AssignmentStarts();
        starts.Set(Partition, Checkpoint);
        starts.Set(Partition, Checkpoint with { SideMarks = [] });

        var late = starts.For(Partition)!;
        var next = starts.For(Partition)!;

        Assert.Equal((Checkpoint.Offset, Checkpoint.Watermark), (late.Offset, late.Watermark));
        Assert.Equal((Checkpoint.Offset, Checkpoint.Watermark), (next.Offset, next.Watermark));
        Assert.True(next.Timers.SameAs(Checkpoint.Timers));
    }

    [Fact]
    public void A_restart_replaces_the_start_and_a_partition_never_assigned_has_none()
    {
        var starts = new AssignmentStarts();
        starts.Set(Partition, Checkpoint);
        starts.Set(Partition, Checkpoint with { Offset = 1_500 });
        Assert.Equal(1_500, starts.For(Partition)!.Offset);

        Assert.Null(starts.For(new TopicPartition(Partition.Topic, 4)));
    }
}
