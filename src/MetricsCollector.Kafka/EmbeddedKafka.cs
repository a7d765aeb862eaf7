using System.Runtime.InteropServices;
using System.Text;
using static MetricsCollector.Kafka.MockClusterNative;

namespace MetricsCollector.Kafka;

/// <summary>
/// An in-process Kafka-protocol broker: librdkafka's mock cluster, listening on loopback.
/// It holds data in memory only, keeps at most 5 MiB or 100,000 message sets per partition
/// (older data is deleted, like retention), and serves every broker from one thread.
/// Facts that matter to callers:
/// <list type="bullet">
/// <item>Each broker listens on a random loopback port chosen by the kernel; librdkafka has no
/// setting for a fixed port (<c>test.mock.num.brokers</c> and <c>test.mock.broker.rtt</c> are the
/// only mock settings). A broker keeps its port across <see cref="SetBrokerDown"/>/<see cref="SetBrokerUp"/>.
/// With <c>firstPort</c>, broker i is advertised at <c>firstPort + i − 1</c> through a relay
/// (<see cref="LoopbackRelay"/>), which costs some throughput.</item>
/// <item>Topics are auto-created on first use by a producer (4 partitions), so create them first.</item>
/// <item>Consumer groups (classic protocol), offset commits and idempotent producers work.
/// The first join of a group waits <c>group.initial.rebalance.delay.ms</c> (3 s by default, as on a
/// real broker); <see cref="SetGroupInitialRebalanceDelay"/> shortens it for tests.</item>
/// </list>
/// </summary>
public sealed class EmbeddedKafka : IDisposable
{
    private readonly Lock _gate = new();
    private readonly List<LoopbackRelay> _relays = [];
    private IntPtr _handle;
    private IntPtr _cluster;

    private EmbeddedKafka(IntPtr handle, IntPtr cluster, int brokers, int? firstPort)
    {
        _handle = handle;
        _cluster = cluster;
        Brokers = brokers;
        BootstrapServers = Marshal.PtrToStringUTF8(rd_kafka_mock_cluster_bootstraps(cluster))
            ?? throw new InvalidOperationException("The mock cluster returned no bootstrap servers.");
        if (firstPort is { } first)
        {
            BootstrapServers = Relay(BootstrapServers, first);
        }
    }

    /// <summary>Comma-separated <c>127.0.0.1:port</c>, one entry per broker.</summary>
    public string BootstrapServers { get; }

    /// <summary>Broker ids run from 1 to this number.</summary>
    public int Brokers { get; }

    /// <param name="firstPort">Null for the ports the kernel picks; else the fixed port of broker 1 (broker i gets firstPort + i − 1).</param>
    public static EmbeddedKafka Start(int brokers = 1, int? firstPort = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(brokers, 1);
        var errstr = new byte[512];
        var conf = rd_kafka_conf_new();
        // The mock cluster runs on an ordinary client handle; keep that handle's own logging quiet.
        if (rd_kafka_conf_set(conf, "log_level", "3", errstr, (UIntPtr)errstr.Length) != ConfOk)
        {
            rd_kafka_conf_destroy(conf);
            throw new InvalidOperationException(ErrorText(errstr));
        }

        var handle = rd_kafka_new(ProducerType, conf, errstr, (UIntPtr)errstr.Length);
        if (handle == IntPtr.Zero)
        {
            rd_kafka_conf_destroy(conf);
            throw new InvalidOperationException($"rd_kafka_new failed: {ErrorText(errstr)}");
        }

        var cluster = rd_kafka_mock_cluster_new(handle, brokers);
        if (cluster == IntPtr.Zero)
        {
            rd_kafka_destroy(handle);
            throw new InvalidOperationException("rd_kafka_mock_cluster_new failed (see librdkafka's log on stderr).");
        }

        // The mock names no controller unless told, and DescribeCluster (BrokerIdentity) waits for one.
        rd_kafka_mock_set_controller_id(cluster, 1);

        try
        {
            return new EmbeddedKafka(handle, cluster, brokers, firstPort);
        }
        catch
        {
            rd_kafka_mock_cluster_destroy(cluster);
            rd_kafka_destroy(handle);
            throw;
        }
    }

    /// <param name="replicationFactor">At most the number of brokers; null means all of them, up to 3.</param>
    public void CreateTopic(string name, int partitions, int? replicationFactor = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(partitions, 1);
        var replication = replicationFactor ?? Math.Min(3, Brokers);
        Check(rd_kafka_mock_topic_create(Cluster(), name, partitions, replication), $"create topic {name}");
    }

    /// <summary>
    /// Deletes a topic and its records. Created again (<see cref="CreateTopic"/>), it is a new log whose
    /// offsets start at 0 and may have another partition count: this broker cannot add partitions to a
    /// topic in place, so that is how a test grows one.
    /// </summary>
    public void DeleteTopic(string name) => Check(rd_kafka_mock_topic_delete(Cluster(), name), $"delete topic {name}");

    /// <summary>Closes the broker's listener and all its connections, as if its process died.</summary>
    public void SetBrokerDown(int brokerId) =>
        Check(rd_kafka_mock_broker_set_down(Cluster(), brokerId), $"set broker {brokerId} down");

    public void SetBrokerUp(int brokerId) =>
        Check(rd_kafka_mock_broker_set_up(Cluster(), brokerId), $"set broker {brokerId} up");

    public void SetGroupInitialRebalanceDelay(TimeSpan delay) =>
        rd_kafka_mock_group_initial_rebalance_delay_ms(Cluster(), checked((int)delay.TotalMilliseconds));

    public void Dispose()
    {
        lock (_gate)
        {
            _relays.ForEach(r => r.Dispose());
            _relays.Clear();
            if (_cluster != IntPtr.Zero)
            {
                rd_kafka_mock_cluster_destroy(_cluster);
                _cluster = IntPtr.Zero;
            }

            if (_handle != IntPtr.Zero)
            {
                rd_kafka_destroy(_handle);
                _handle = IntPtr.Zero;
            }
        }
    }

    /// <summary>Puts a relay on a fixed port in front of each broker and advertises the relay instead.</summary>
    private string Relay(string bootstraps, int firstPort)
    {
        var fixedAddresses = new List<string>();
        var brokerId = 1;
        try
        {
            // The mock lists its brokers in id order, as 127.0.0.1:port.
            foreach (var address in bootstraps.Split(','))
            {
                var port = firstPort + brokerId - 1;
                var target = int.Parse(address[(address.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
                _relays.Add(new LoopbackRelay(port, target));
                rd_kafka_mock_broker_set_host_port(_cluster, brokerId, "127.0.0.1", port);
                fixedAddresses.Add($"127.0.0.1:{port}");
                brokerId++;
            }
        }
        catch
        {
            _relays.ForEach(r => r.Dispose());
            throw;
        }

        return string.Join(',', fixedAddresses);
    }

    private IntPtr Cluster()
    {
        var cluster = _cluster;
        ObjectDisposedException.ThrowIf(cluster == IntPtr.Zero, this);
        return cluster;
    }

    private static void Check(int err, string what)
    {
        if (err != 0)
        {
            throw new InvalidOperationException(
                $"Embedded Kafka: {what} failed: {Marshal.PtrToStringUTF8(rd_kafka_err2str(err))} ({err}).");
        }
    }

    private static string ErrorText(byte[] errstr)
    {
        var end = Array.IndexOf(errstr, (byte)0);
        return Encoding.UTF8.GetString(errstr, 0, end < 0 ? errstr.Length : end);
    }
}

/// <summary>The product's topics (PRODUCT.md) and a way to create them on a broker.</summary>
public static class ProductTopics
{
    public const string Input = "iot.device.events.dev";
    public const string TooLate = "iot.cpu.metrics.tooLate";
    public const string DeadLetter = "iot.device.events.dlq";
    public const string Results = "iot.cpu.metrics.results";
    public const int DefaultPartitions = 10;

    /// <summary>
    /// Creates the topics; <paramref name="results"/> null when the results topic is off. The mock broker has no
    /// topic configuration, so the results topic is not compacted here: on a real Kafka the operator creates it
    /// with <c>cleanup.policy=compact</c>.
    /// </summary>
    public static void Create(
        EmbeddedKafka broker,
        int partitions = DefaultPartitions,
        string input = Input,
        string tooLate = TooLate,
        string deadLetter = DeadLetter,
        string? results = Results)
    {
        ArgumentNullException.ThrowIfNull(broker);
        broker.CreateTopic(input, partitions);
        broker.CreateTopic(tooLate, partitions);
        broker.CreateTopic(deadLetter, partitions);
        if (results is not null) broker.CreateTopic(results, partitions);
    }
}
