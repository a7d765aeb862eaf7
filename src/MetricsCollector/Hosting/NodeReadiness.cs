namespace MetricsCollector.Hosting;

/// <summary>What the readiness check and the ingest need to know about this node's state.</summary>
public sealed class NodeReadiness(string kafkaBootstrap)
{
    private readonly TaskCompletionSource _clusterUp = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The bootstrap servers in use: the configured ones, or the embedded broker's.</summary>
    public string KafkaBootstrap { get; } = kafkaBootstrap;

    public Task ClusterUp => _clusterUp.Task;

    public volatile bool Consuming;

    public void MarkClusterUp() => _clusterUp.TrySetResult();
}
