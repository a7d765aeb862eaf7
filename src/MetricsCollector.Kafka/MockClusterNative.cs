using System.Reflection;
using System.Runtime.InteropServices;
using Confluent.Kafka;

namespace MetricsCollector.Kafka;

/// <summary>
/// P/Invoke declarations for librdkafka's mock cluster. They must bind to the very library file
/// Confluent.Kafka loaded: a second copy of librdkafka would be a second set of globals, and the
/// bundled builds differ by platform (on Debian Confluent falls back to centos8-librdkafka.so).
/// The mock API is marked experimental by librdkafka; these signatures match 2.16.
/// </summary>
internal static class MockClusterNative
{
    internal const string Lib = "librdkafka-confluent-loaded";

    internal const int ProducerType = 0;
    internal const int ConfOk = 0;

    private static readonly Lazy<bool> s_resolver = new(() =>
    {
        NativeLibrary.SetDllImportResolver(typeof(MockClusterNative).Assembly, Resolve);
        return true;
    });

    static MockClusterNative() => EnsureResolver();

    /// <summary>Every class with <c>DllImport(Lib)</c> calls this first; the resolver can be set only once per assembly.</summary>
    internal static void EnsureResolver() => _ = s_resolver.Value;

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) =>
        name == Lib ? NativeLibrary.Load(LoadedLibrdkafkaPath()) : IntPtr.Zero;

    /// <summary>
    /// Asks Confluent.Kafka to load its librdkafka, then reads which file the process mapped.
    /// Confluent does not expose the path it chose, and /proc/self/maps is the loader's own truth.
    /// </summary>
    internal static string LoadedLibrdkafkaPath()
    {
        Library.Load();
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("The embedded Kafka broker finds librdkafka through /proc/self/maps (Linux only).");
        }

        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            var slash = line.IndexOf('/', StringComparison.Ordinal);
            if (slash >= 0 && line.Contains("librdkafka", StringComparison.Ordinal))
            {
                return line[slash..].Trim();
            }
        }

        throw new InvalidOperationException("Confluent.Kafka reported librdkafka loaded, but it is not mapped into this process.");
    }

    [DllImport(Lib)]
    internal static extern IntPtr rd_kafka_conf_new();

    [DllImport(Lib)]
    internal static extern void rd_kafka_conf_destroy(IntPtr conf);

    [DllImport(Lib)]
    internal static extern int rd_kafka_conf_set(
        IntPtr conf,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string name,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string value,
        byte[] errstr,
        UIntPtr errstrSize);

    [DllImport(Lib)]
    internal static extern IntPtr rd_kafka_new(int type, IntPtr conf, byte[] errstr, UIntPtr errstrSize);

    [DllImport(Lib)]
    internal static extern void rd_kafka_destroy(IntPtr rk);

    [DllImport(Lib)]
    internal static extern IntPtr rd_kafka_mock_cluster_new(IntPtr rk, int brokerCount);

    [DllImport(Lib)]
    internal static extern void rd_kafka_mock_cluster_destroy(IntPtr mcluster);

    [DllImport(Lib)]
    internal static extern IntPtr rd_kafka_mock_cluster_bootstraps(IntPtr mcluster);

    [DllImport(Lib)]
    internal static extern int rd_kafka_mock_topic_create(
        IntPtr mcluster,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string topic,
        int partitionCount,
        int replicationFactor);

    [DllImport(Lib)]
    internal static extern int rd_kafka_mock_topic_delete(IntPtr mcluster, [MarshalAs(UnmanagedType.LPUTF8Str)] string topic);

    [DllImport(Lib)]
    internal static extern void rd_kafka_mock_set_controller_id(IntPtr mcluster, int brokerId);

    [DllImport(Lib)]
    internal static extern int rd_kafka_mock_broker_set_down(IntPtr mcluster, int brokerId);

    [DllImport(Lib)]
    internal static extern int rd_kafka_mock_broker_set_up(IntPtr mcluster, int brokerId);

    [DllImport(Lib)]
    internal static extern void rd_kafka_mock_broker_set_host_port(
        IntPtr mcluster,
        int brokerId,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string host,
        int port);

    [DllImport(Lib)]
    internal static extern void rd_kafka_mock_group_initial_rebalance_delay_ms(IntPtr mcluster, int delayMs);

    [DllImport(Lib)]
    internal static extern IntPtr rd_kafka_err2str(int err);
}
