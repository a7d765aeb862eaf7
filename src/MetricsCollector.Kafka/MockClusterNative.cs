using System.Runtime.InteropServices;

namespace MetricsCollector.Kafka;

/// <summary>
/// P/Invoke declarations for librdkafka's mock cluster, bound to the library Confluent.Kafka loaded
/// (<see cref="LoadedLibrdkafka"/>). The mock API is marked experimental by librdkafka; these
/// signatures match 2.16.
/// </summary>
internal static class MockClusterNative
{
    internal const int ProducerType = 0;
    internal const int ConfOk = 0;

    static MockClusterNative() => LoadedLibrdkafka.EnsureResolver();

    [DllImport(LoadedLibrdkafka.Lib)]
    internal static extern IntPtr rd_kafka_conf_new();

    [DllImport(LoadedLibrdkafka.Lib)]
    internal static extern void rd_kafka_conf_destroy(IntPtr conf);

    [DllImport(LoadedLibrdkafka.Lib)]
    internal static extern int rd_kafka_conf_set(
        IntPtr conf,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string name,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string value,
        byte[] errstr,
        UIntPtr errstrSize);

    [DllImport(LoadedLibrdkafka.Lib)]
    internal static extern IntPtr rd_kafka_new(int type, IntPtr conf, byte[] errstr, UIntPtr errstrSize);

    [DllImport(LoadedLibrdkafka.Lib)]
    internal static extern void rd_kafka_destroy(IntPtr rk);

    [DllImport(LoadedLibrdkafka.Lib)]
    internal static extern IntPtr rd_kafka_mock_cluster_new(IntPtr rk, int brokerCount);

    [DllImport(LoadedLibrdkafka.Lib)]
    internal static extern void rd_kafka_mock_cluster_destroy(IntPtr mcluster);

    [DllImport(LoadedLibrdkafka.Lib)]
    internal static extern IntPtr rd_kafka_mock_cluster_bootstraps(IntPtr mcluster);

    [DllImport(LoadedLibrdkafka.Lib)]
    internal static extern int rd_kafka_mock_topic_create(
        IntPtr mcluster,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string topic,
        int partitionCount,
        int replicationFactor);

    [DllImport(LoadedLibrdkafka.Lib)]
    internal static extern int rd_kafka_mock_topic_delete(IntPtr mcluster, [MarshalAs(UnmanagedType.LPUTF8Str)] string topic);

    [DllImport(LoadedLibrdkafka.Lib)]
    internal static extern void rd_kafka_mock_set_controller_id(IntPtr mcluster, int brokerId);

    [DllImport(LoadedLibrdkafka.Lib)]
    internal static extern int rd_kafka_mock_broker_set_down(IntPtr mcluster, int brokerId);

    [DllImport(LoadedLibrdkafka.Lib)]
    internal static extern int rd_kafka_mock_broker_set_up(IntPtr mcluster, int brokerId);

    [DllImport(LoadedLibrdkafka.Lib)]
    internal static extern void rd_kafka_mock_broker_set_host_port(
        IntPtr mcluster,
        int brokerId,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string host,
        int port);

    [DllImport(LoadedLibrdkafka.Lib)]
    internal static extern void rd_kafka_mock_group_initial_rebalance_delay_ms(IntPtr mcluster, int delayMs);

    [DllImport(LoadedLibrdkafka.Lib)]
    internal static extern IntPtr rd_kafka_err2str(int err);
}
