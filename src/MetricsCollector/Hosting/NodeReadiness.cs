using System.Collections.Concurrent;

namespace MetricsCollector.Hosting;

/// <summary>
/// What the readiness check and the ingest need to know about this node's state. The ingest
/// reports its consumer and the group's assignment; whoever holds a partition back because a
/// side topic keeps failing reports that, so the node stops looking ready until it is released.
/// </summary>
public sealed class NodeReadiness(string kafkaBootstrap)
{
    private readonly TaskCompletionSource _clusterUp = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<int, string> _heldBack = new();
    private volatile bool _consuming;
    private volatile bool _assigned;

    /// <summary>The bootstrap servers in use: the configured ones, or the embedded broker's.</summary>
    public string KafkaBootstrap { get; } = kafkaBootstrap;

    public Task ClusterUp => _clusterUp.Task;

    /// <summary>
    /// Whether a Kafka consumer runs. A consumer that stops (failed, or the node is stopping)
    /// takes its assignment with it: the next one is ready only once the group assigns to it.
    /// </summary>
    public bool Consuming
    {
        get => _consuming;
        set
        {
            if (!value) _assigned = false;
            _consuming = value;
        }
    }

    /// <summary>Whether the running consumer has joined the group and received its assignment, even an empty one.</summary>
    public bool Assigned => _consuming && _assigned;

    /// <summary>Partitions held back by a failing side topic, with the reason, in partition order.</summary>
    public IReadOnlyList<(int Partition, string Reason)> HeldBack =>
        _heldBack.OrderBy(p => p.Key).Select(p => (p.Key, p.Value)).ToList();

    public void MarkClusterUp() => _clusterUp.TrySetResult();

    /// <summary>The consumer group has handed this member its assignment.</summary>
    public void MarkAssigned() => _assigned = true;

    /// <summary><paramref name="partition"/> cannot make progress because of <paramref name="reason"/> (a side topic that keeps failing).</summary>
    public void HoldBack(int partition, string reason) => _heldBack[partition] = reason;

    /// <summary><paramref name="partition"/> moves again, or is no longer this node's.</summary>
    public void Release(int partition) => _heldBack.TryRemove(partition, out _);
}
