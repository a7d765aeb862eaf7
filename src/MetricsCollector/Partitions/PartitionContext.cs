using Akka.Actor;
using Confluent.Kafka;
using MetricsCollector.Core.Windows;
using MetricsCollector.Kafka;
using MetricsCollector.Kafka.Consumer;
using MetricsCollector.Observability;

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
    public required KafkaSideOutput SideOutput { get; init; }
    public required IConsumerControl Consumer { get; init; }
    public required IPartitionProgressStore Progress { get; init; }
    public required WindowSettings Windows { get; init; }
    public required long MaxOutOfOrderness { get; init; }
    public required long IdleTimeout { get; init; }
    public required string DeadLetterTopic { get; init; }
    public required string TooLateTopic { get; init; }
    public required CollectorMetrics Metrics { get; init; }
    public TimeProvider Clock { get; init; } = TimeProvider.System;
    public TimeSpan CommitInterval { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>
    /// How long a revoked partition waits for its devices' snapshots before handing over anyway
    /// (the next owner then replays from the last commit, exactly once all the same). The whole
    /// consumer group waits for the slowest member's flush (every member revokes everything in an
    /// eager rebalance), and on the mock broker a member that rejoins more than session - 1 s
    /// after the rebalance began (4 s with its 5 s session) starts one more: the heartbeat that
    /// tells a member to rejoin comes up to 0.5 s late, so a 2 s flush leaves room for a loaded node.
    /// </summary>
    public TimeSpan FlushTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Completed by the ingest when the group takes the partition away. The partition then
    /// flushes at once rather than when its stream ends: the stream's last batch waits for the
    /// devices to catch up (backpressure), and while shards move that took up to 10 s, which the
    /// whole group waited for. What the stream still holds is replayed by the next owner.
    /// </summary>
    public TaskCompletionSource Revoked { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completed with the committed offset once the partition has flushed (or stopped).</summary>
    public TaskCompletionSource<long> Flushed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>Where partitions keep their <see cref="PartitionProgress"/>.</summary>
public interface IPartitionProgressStore
{
    Task SaveAsync(string key, PartitionProgress progress);

    Task<PartitionProgress?> LoadAsync(string key);
}
