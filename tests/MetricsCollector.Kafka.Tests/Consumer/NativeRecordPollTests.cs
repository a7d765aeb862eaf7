using System.Text;
using Confluent.Kafka;
using MetricsCollector.Kafka.Consumer;
using MetricsCollector.Kafka.Tests.Support;
using static MetricsCollector.Kafka.Tests.Support.KafkaTestSupport;

namespace MetricsCollector.Kafka.Tests.Consumer;

/// <summary>
/// The poll that reads librdkafka's messages in place must read every record exactly as Confluent.Kafka's
/// Consume does, whatever its shape, and hand consume errors back with the partition and offset they are for.
/// </summary>
public sealed class NativeRecordPollTests(BrokerFixture fixture) : IClassFixture<BrokerFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly string _bootstrap = fixture.Broker.BootstrapServers;

    private static readonly (byte[]? Key, byte[]? Value, long Timestamp)[] Shapes =
    [
        ("device-1"u8.ToArray(), """{"deviceId":"device-1","timestamp":1,"cpuUsage":2}"""u8.ToArray(), 1_764_307_200_000),
        (null, "no key"u8.ToArray(), 1_764_307_200_001),
        ("tombstone"u8.ToArray(), null, 1_764_307_200_002),
        ("empty"u8.ToArray(), [], 1_764_307_200_003),
        ([], "empty key"u8.ToArray(), 0),
        ("large"u8.ToArray(), Enumerable.Range(0, 300_000).Select(i => (byte)(i * 31)).ToArray(), 1_764_307_200_005),
        (Encoding.UTF8.GetBytes("gerät-ü"), Encoding.UTF8.GetBytes("""{"deviceId":"gerät-ü"}"""), 4_102_444_800_000),
    ];

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Records_read_in_place_are_the_records_Consume_reads(bool pooled)
    {
        var topic = Unique("native");
        fixture.Broker.CreateTopic(topic, 1);
        ProduceShapes(topic);

        var expected = ReadWithConsume(topic);
        Assert.Equal(Shapes.Length * 3, expected.Count);

        using var consumer = Assigned(topic, offset: 0);
        var native = NativeRecordPoll.TryCreate(consumer, pooled ? new RecordBytePool() : null, readTopic: false, out var whyNot);
        Assert.True(native is not null, $"no native poll: {whyNot}");
        var read = PollUntil(native, expected.Count);

        Assert.All(read, r => Assert.Null(r.Error));
        Assert.All(read, r => Assert.Equal(0, r.Partition));
        Assert.All(read, r => Assert.Null(r.Topic));
        Assert.Equal(expected.Select(Describe), read.Select(r => Describe(r.Record)));
    }

    [Fact]
    public void A_consumer_of_several_topics_gets_each_records_topic()
    {
        var first = Unique("native-a");
        var second = Unique("native-b");
        fixture.Broker.CreateTopic(first, 1);
        fixture.Broker.CreateTopic(second, 2);
        Produce(_bootstrap, first, partitions: 1, perPartition: 5);
        Produce(_bootstrap, second, partitions: 2, perPartition: 5);

        using var consumer = Build(AutoOffsetReset.Earliest);
        consumer.Assign([new TopicPartitionOffset(first, 0, 0), new TopicPartitionOffset(second, 0, 0), new TopicPartitionOffset(second, 1, 0)]);
        var native = NativeRecordPoll.TryCreate(consumer, null, readTopic: true, out _)!;
        var read = PollUntil(native, 15);

        Assert.Equal(
            new[] { (first, 0), (second, 0), (second, 1) },
            read.GroupBy(r => (r.Topic!, r.Partition)).Select(g => g.Key).Order());
        Assert.All(read, r => Assert.StartsWith($"{r.Partition}:", Encoding.UTF8.GetString(r.Record.Value!)));
    }

    [Fact]
    public void An_offset_the_broker_no_longer_has_comes_back_as_an_error_for_its_partition_and_offset()
    {
        var topic = Unique("native-gone");
        fixture.Broker.CreateTopic(topic, 1);
        Produce(_bootstrap, topic, partitions: 1, perPartition: 10);

        using var consumer = Build(AutoOffsetReset.Error);
        consumer.Assign([new TopicPartitionOffset(topic, 0, 500)]);
        var native = NativeRecordPoll.TryCreate(consumer, null, readTopic: false, out _)!;
        var polled = PollUntil(native, 1).Single();

        var error = Assert.IsType<Error>(polled.Error);
        Assert.Equal(ErrorCode.Local_AutoOffsetReset, error.Code);
        Assert.False(error.IsFatal);
        Assert.False(string.IsNullOrEmpty(error.Reason));
        Assert.Equal((0, 500L), (polled.Partition, polled.Record.Offset));
    }

    private void ProduceShapes(string topic)
    {
        using var producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig { BootstrapServers = _bootstrap, MessageMaxBytes = 1_000_000 }).Build();
        // Three rounds, so that records come in more than one fetched batch and message set.
        for (var round = 0; round < 3; round++)
        {
            foreach (var (key, value, timestamp) in Shapes)
            {
                producer.Produce(topic, new Message<byte[]?, byte[]?>
                {
                    Key = key, Value = value, Timestamp = timestamp == 0 ? Timestamp.Default : new Timestamp(timestamp, TimestampType.CreateTime),
                });
            }

            producer.Flush(TimeSpan.FromSeconds(10));
        }
    }

    private List<KafkaRecord> ReadWithConsume(string topic)
    {
        using var consumer = Assigned(topic, offset: 0);
        var records = new List<KafkaRecord>();
        var deadline = DateTime.UtcNow + Patience;
        while (records.Count < Shapes.Length * 3 && DateTime.UtcNow < deadline)
        {
            if (consumer.Consume(100) is not { } result) continue;
            var timestamp = result.Message.Timestamp.Type == TimestampType.NotAvailable ? KafkaRecord.NoTimestamp : result.Message.Timestamp.UnixTimestampMs;
            records.Add(new KafkaRecord(result.Offset.Value, timestamp, result.Message.Key, result.Message.Value));
        }

        return records;
    }

    private IConsumer<byte[]?, byte[]?> Assigned(string topic, long offset)
    {
        var consumer = Build(AutoOffsetReset.Earliest);
        consumer.Assign([new TopicPartitionOffset(topic, 0, offset)]);
        return consumer;
    }

    private IConsumer<byte[]?, byte[]?> Build(AutoOffsetReset reset) =>
        new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig { BootstrapServers = _bootstrap, GroupId = Unique("g"), AutoOffsetReset = reset, EnableAutoCommit = false }).Build();

    /// <summary>What the native poll hands back until <paramref name="count"/> arrived; it never waits, so the test does.</summary>
    private static List<NativeRecordPoll.Polled> PollUntil(NativeRecordPoll native, int count)
    {
        var read = new List<NativeRecordPoll.Polled>();
        var deadline = DateTime.UtcNow + Patience;
        while (read.Count < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"only {read.Count} of {count} polled");
            if (native.TryPoll(out var polled)) read.Add(polled);
            else Thread.Sleep(10);
        }

        return read;
    }

    private static string Describe(KafkaRecord r) =>
        $"{r.Offset} {r.Timestamp} key={Hex(r.Key)} value={Hex(r.Value)}";

    private static string Hex(byte[]? bytes) => bytes is null ? "null" : $"{bytes.Length}:{Convert.ToHexString(bytes.AsSpan(0, Math.Min(bytes.Length, 64)))}:{Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes))}";
}
