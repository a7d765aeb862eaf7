using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace MetricsCollector.Kafka;

/// <summary>
/// Which Kafka cluster a bootstrap address leads to. Offsets only mean something within one
/// cluster: a fresh embedded broker (or a recreated cluster) starts every partition at 0 again.
/// Asked through the admin API (DescribeCluster), which every platform's librdkafka has, so a
/// node pointed at a real Kafka needs nothing of the embedded broker's Linux-only plumbing.
/// </summary>
public static class BrokerIdentity
{
    public static async Task<string> ClusterIdAsync(KafkaClients clients, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(clients);
        using var admin = new AdminClientBuilder(clients.Admin()).Build();
        var cluster = await admin.DescribeClusterAsync(new DescribeClusterOptions { RequestTimeout = timeout }).ConfigureAwait(false);
        return string.IsNullOrEmpty(cluster.ClusterId)
            ? throw new KafkaException(new Error(ErrorCode.Local_Fail, $"the brokers at {clients.BootstrapServers} did not tell their cluster id"))
            : cluster.ClusterId;
    }

    /// <summary>
    /// The consumer group session timeout that suits the brokers of a cluster id: 6 s, a real
    /// broker's minimum (group.min.session.timeout.ms), which bounds how long a dead member keeps
    /// its partitions. librdkafka's mock cluster (ids "mockCluster…") waits session - 1 s before
    /// every assignment, where a real broker assigns as soon as every live member has rejoined;
    /// 5 s there saves 2 s of each rebalance and leaves the group's side of a take-over shorter
    /// than the cluster's (failure detection and downing). Not less: on two shared cores a node
    /// went 5.5 s without sending a cluster heartbeat while another one started up.
    /// </summary>
    public static TimeSpan SessionTimeoutFor(string clusterId) =>
        IsMock(clusterId) ? TimeSpan.FromSeconds(5) : TimeSpan.FromSeconds(6);

    /// <summary>Whether a cluster id is one of librdkafka's mock cluster (the embedded broker).</summary>
    public static bool IsMock(string clusterId) => clusterId.StartsWith("mockCluster", StringComparison.Ordinal);
}
