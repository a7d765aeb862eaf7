using System.Runtime.InteropServices;
using Confluent.Kafka;
using MetricsCollector.Kafka.Consumer;

namespace MetricsCollector.Kafka;

/// <summary>
/// Which Kafka cluster a bootstrap address leads to. Offsets only mean something within one
/// cluster: a fresh embedded broker (or a recreated cluster) starts every partition at 0 again.
/// Confluent.Kafka does not expose the cluster id of the metadata responses, and the mock
/// cluster has no controller for DescribeCluster, so this asks librdkafka (rd_kafka_clusterid)
/// through a client's native handle.
/// </summary>
public static class BrokerIdentity
{
    static BrokerIdentity() => MockClusterNative.EnsureResolver();

    public static string ClusterId(string bootstrapServers, TimeSpan timeout)
    {
        using var producer = new ProducerBuilder<Null, Null>(new ProducerConfig { BootstrapServers = bootstrapServers }).Build();
        var id = rd_kafka_clusterid(OffsetMetadata.Native(producer), (int)timeout.TotalMilliseconds);
        if (id == IntPtr.Zero)
            throw new KafkaException(new Error(ErrorCode.Local_TimedOut, $"the brokers at {bootstrapServers} did not tell their cluster id within {timeout}"));
        try
        {
            return Marshal.PtrToStringUTF8(id) ?? "";
        }
        finally
        {
            rd_kafka_mem_free(IntPtr.Zero, id);
        }
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

    [DllImport(MockClusterNative.Lib)]
    private static extern IntPtr rd_kafka_clusterid(IntPtr rk, int timeoutMs);

    [DllImport(MockClusterNative.Lib)]
    private static extern void rd_kafka_mem_free(IntPtr rk, IntPtr ptr);
}
