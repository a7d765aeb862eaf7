using Akka.Actor;
using Confluent.Kafka;
using MetricsCollector.Core.Windows;
using MetricsCollector.Kafka;
using MetricsCollector.Kafka.Consumer;
using MetricsCollector.Observability;
using MetricsCollector.ReadSide;

namespace MetricsCollector.Partitions;

/// <summary>Everything a partition actor works with, given by the ingest when the partition is assigned.</summary>
public sealed record PartitionContext
{
    public required TopicPartition TopicPartition { get; init; }
    public required string ProgressKey { get; init; }

    /// <summary>The broker's cluster id, carried with every record so devices can tell offsets of different brokers apart.</summary>
    public required string Epoch { get; init; }
    public required IActorRef Devices { get; init; }

    /// <summary>Completes once this partition's device shard can only start on this node (<see cref="Ingest.ShardHandOver"/>).</summary>
    public required Task ShardReady { get; init; }
    public required IActorRef TopN { get; init; }
    public required ISideTopics SideOutput { get; init; }
    public required IConsumerControl Consumer { get; init; }
    public required IPartitionProgressStore Progress { get; init; }
    public required WindowSettings Windows { get; init; }
    public required long MaxOutOfOrderness { get; init; }
    public required long IdleTimeout { get; init; }
    public required long MaxFutureSkew { get; init; }
    public required string DeadLetterTopic { get; init; }
    public required string TooLateTopic { get; init; }
    public required CollectorMetrics Metrics { get; init; }
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>The tuning values: see <c>metrics-collector.partitions</c> in <c>hocon/metrics-collector.conf</c> for what each one is for.</summary>
    public required TimeSpan CommitInterval { get; init; }

    public required TimeSpan CommitStallWarning { get; init; }

    /// <summary>A device the partition has sent nothing for this long is asked to leave memory (<c>devices.passivate-after</c>).</summary>
    public required TimeSpan PassivateAfter { get; init; }

    public required int MaxInFlight { get; init; }

    public required TimeSpan ResendAfter { get; init; }

    public required TimeSpan FlushTimeout { get; init; }

    public required SideOutputSettings Sides { get; init; }

    /// <summary>Rows waiting for the store: while it is full the partition takes no records, so that a store outage holds memory bounded.</summary>
    public required WriteBacklog Backlog { get; init; }

    /// <summary>Where the consumer took the records' keys and values from: those not kept for a side topic go back once judged.</summary>
    public RecordBytePool? RecordBytes { get; init; }

    /// <summary>Told whenever the partition becomes held back by a side record that keeps failing, or free again.</summary>
    public Action<bool> HeldBackChanged { get; init; } = _ => { };

    /// <summary>
    /// Completed by the ingest when the group takes the partition away. The partition then
    /// flushes at once rather than when its stream ends: the stream's last batch waits for the
    /// devices to catch up (backpressure), and while shards move that took up to 10 s, which the
    /// whole group waited for. What the stream still holds is replayed by the next owner.
    /// </summary>
    public TaskCompletionSource Revoked { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Completed by the ingest when the offset the partition reads at is gone from the broker (its log replaced or
    /// cut under it, or retention overtook it): what it holds may belong to the old log, so it stops at once,
    /// without a commit, and is read anew.
    /// </summary>
    public TaskCompletionSource Abandoned { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completed once the partition actor has stopped: how far it committed, and whether it must be read again.</summary>
    public TaskCompletionSource<PartitionEnd> Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>How a partition actor ended.</summary>
/// <param name="Committed">The offset its last saved checkpoint resumes at.</param>
/// <param name="ReadAgain">
/// It stopped while its partition is still assigned here and must be read again from its last commit:
/// a device lost state, the actor failed, or the log was replaced under it. False when it handed over
/// (revoked, the stream ended, the node stops).
/// </param>
/// <param name="Why">What happened, for the log.</param>
public sealed record PartitionEnd(long Committed, bool ReadAgain, string Why);

/// <summary>Where partitions keep their <see cref="PartitionProgress"/>.</summary>
public interface IPartitionProgressStore
{
    Task SaveAsync(string key, PartitionProgress progress);

    Task<PartitionProgress?> LoadAsync(string key);

    /// <summary>How far the partition's watermark is stored (<see cref="PartitionProgress.FinalThrough"/>); null when it has no progress.</summary>
    async Task<long?> LoadFinalThroughAsync(string key) => (await LoadAsync(key))?.FinalThrough;
}
