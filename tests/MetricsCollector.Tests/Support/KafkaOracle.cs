using System.Text;
using Confluent.Kafka;
using MetricsCollector.Core.Events;
using MetricsCollector.Testing;

namespace MetricsCollector.Tests.Support;

/// <summary>
/// Reads a topic back through the Kafka protocol, partition by partition in offset order, and
/// feeds the exact oracle: the expected rows, too-late records and dead-letter records of
/// exactly what the engine consumed.
/// </summary>
public sealed class KafkaOracle
{
    public required ExactWindowOracle Windows { get; init; }

    public required List<(int Partition, long Offset, string Reason)> DeadLetters { get; init; }

    public HashSet<(int Partition, long Offset)> TooLate => Windows.TooLate.Select(t => (t.Partition, t.Position)).ToHashSet();

    public const long MaxFutureSkewMs = 3_600_000;

    public static KafkaOracle Read(string bootstrap, string topic, long sizeMs, long slideMs, long latenessMs, long boundMs)
    {
        var oracle = new ExactWindowOracle(sizeMs, slideMs, latenessMs, boundMs);
        var deadLetters = new List<(int, long, string)>();
        var decoder = new EventDecoder();
        foreach (var record in ReadAll(bootstrap, topic))
        {
            if (!decoder.TryDecode(record.Message.Value, out var evt, out var reason))
            {
                deadLetters.Add((record.Partition.Value, record.Offset.Value, reason.ToHeaderValue()));
                continue;
            }
            // The default maximum future skew: an hour ahead of the record's own timestamp.
            if (evt.Timestamp - record.Message.Timestamp.UnixTimestampMs > MaxFutureSkewMs)
            {
                deadLetters.Add((record.Partition.Value, record.Offset.Value, RejectReason.TimestampInFuture.ToHeaderValue()));
                continue;
            }
            oracle.Record(record.Partition.Value, record.Offset.Value, evt.DeviceId, evt.Timestamp, evt.CpuUsage);
        }
        return new KafkaOracle { Windows = oracle, DeadLetters = deadLetters };
    }

    /// <summary>Every record of every partition of <paramref name="topic"/>, partition after partition, each in offset order.</summary>
    public static List<ConsumeResult<byte[], byte[]>> ReadAll(string bootstrap, string topic)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = bootstrap }).Build();
        var partitions = admin.GetMetadata(topic, TimeSpan.FromSeconds(10)).Topics[0].Partitions.Select(p => p.PartitionId).Order().ToList();
        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = "oracle-" + Guid.NewGuid().ToString("N"),
            EnableAutoCommit = false,
        }).Build();
        var records = new List<ConsumeResult<byte[], byte[]>>();
        foreach (var partition in partitions)
        {
            var tp = new TopicPartition(topic, partition);
            var end = consumer.QueryWatermarkOffsets(tp, TimeSpan.FromSeconds(10)).High.Value;
            if (end == 0) continue;
            consumer.Assign(new TopicPartitionOffset(tp, Offset.Beginning));
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (DateTime.UtcNow < deadline)
            {
                var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
                if (result is null || result.IsPartitionEOF) continue;
                records.Add(result);
                if (result.Offset.Value >= end - 1) break;
            }
            consumer.Unassign();
        }
        return records;
    }

    public static string Header(ConsumeResult<byte[], byte[]> record, string name) =>
        record.Message.Headers.TryGetLastBytes(name, out var bytes) ? Encoding.UTF8.GetString(bytes) : "";
}
