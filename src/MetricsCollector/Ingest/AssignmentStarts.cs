using System.Collections.Concurrent;
using Confluent.Kafka;
using MetricsCollector.Partitions;

namespace MetricsCollector.Ingest;

/// <summary>
/// Where the actor of each assigned partition starts: the checkpoint read when the partition was assigned here
/// (or read again to restart it). A start stays until the next assignment or restart replaces it rather than
/// being taken once: the substream sink can start an assignment's actor only after its partition was revoked and
/// assigned again (rebalances half a second apart), and that late actor, on a finished substream, would take
/// the next assignment's start, which then began at the log's start with no watermark and no timers: devices
/// waiting there for their last windows were never woken.
/// </summary>
public sealed class AssignmentStarts
{
    private readonly ConcurrentDictionary<TopicPartition, PartitionProgress> _starts = new();

    public void Set(TopicPartition partition, PartitionProgress start) => _starts[partition] = start;

    /// <summary>The latest start of <paramref name="partition"/>; null when it was never assigned here.</summary>
    public PartitionProgress? For(TopicPartition partition) => _starts.TryGetValue(partition, out var start) ? start : null;
}
