using System.Text;
using Confluent.Kafka;
using MetricsCollector.Kafka.Tests.Support;

namespace MetricsCollector.Kafka.Tests;

public sealed class KafkaSideOutputTests : IDisposable
{
    private readonly EmbeddedKafka _broker = BrokerFixture.StartBroker(brokers: 1);

    public void Dispose() => _broker.Dispose();

    [Fact]
    public async Task Keeps_the_original_bytes_and_names_the_reason_and_the_source_in_headers()
    {
        ProductTopics.Create(_broker, partitions: 3);
        byte[] original = [0x7B, 0xC3, 0x28, 0x7D];
        using (var output = new KafkaSideOutput(new KafkaClients(_broker.BootstrapServers)))
        {
            var delivered = await output.ProduceAsync(
                new TopicPartition(ProductTopics.DeadLetter, 2), Encoding.UTF8.GetBytes("device-1"), original, "bad-utf8", sourcePartition: 4, sourceOffset: 17);
            Assert.Equal(PersistenceStatus.Persisted, delivered.Status);
            Assert.Equal(2, delivered.Partition.Value);
        }

        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig
        {
            BootstrapServers = _broker.BootstrapServers,
            GroupId = "dlq-check",
            AutoOffsetReset = AutoOffsetReset.Earliest,
        }).Build();
        consumer.Subscribe(ProductTopics.DeadLetter);
        var record = consumer.Consume(TimeSpan.FromSeconds(10));
        consumer.Close();

        Assert.NotNull(record);
        Assert.Equal(original, record.Message.Value);
        Assert.Equal("device-1", Encoding.UTF8.GetString(record.Message.Key));
        Assert.Equal("bad-utf8", Encoding.UTF8.GetString(record.Message.Headers.GetLastBytes(KafkaSideOutput.ReasonHeader)));
        Assert.Equal("4", Encoding.UTF8.GetString(record.Message.Headers.GetLastBytes(KafkaSideOutput.SourcePartitionHeader)));
        Assert.Equal("17", Encoding.UTF8.GetString(record.Message.Headers.GetLastBytes(KafkaSideOutput.SourceOffsetHeader)));
    }

    [Fact]
    public async Task Reads_back_from_a_mark_only_the_records_of_the_asked_source_partition()
    {
        ProductTopics.Create(_broker, partitions: 3);
        var side = new TopicPartition(ProductTopics.TooLate, 1);
        using var output = new KafkaSideOutput(new KafkaClients(_broker.BootstrapServers));
        // Source partitions 1 and 4 share side partition 1 (4 % 3); offset 30 of partition 4 is there twice.
        var produced = new List<(int Source, long SourceOffset, long SideOffset)>();
        foreach (var (source, offset) in new[] { (4, 10L), (1, 10L), (4, 20L), (4, 30L), (1, 30L), (4, 30L), (4, 31L) })
        {
            var delivered = await output.ProduceAsync(side, null, [1], "too-late", source, offset);
            produced.Add((source, offset, delivered.Offset.Value));
        }
        var end = produced[^1].SideOffset + 1;
        var mark = produced[1].SideOffset;

        var found = await output.ReadBackAsync(side, mark, sourcePartition: 4);
        var expected = produced.Where(p => p.Source == 4 && p.SideOffset >= mark)
            .GroupBy(p => p.SourceOffset)
            .ToDictionary(g => g.Key, g => g.Min(p => p.SideOffset));
        Assert.Equal(end, found.End);
        Assert.Equal(expected.OrderBy(e => e.Key), found.BySourceOffset.OrderBy(e => e.Key));
        Assert.Equal([20L, 30L, 31L], found.BySourceOffset.Keys.Order());

        var atEnd = await output.ReadBackAsync(side, null, sourcePartition: 4);
        Assert.Equal(end, atEnd.End);
        Assert.Empty(atEnd.BySourceOffset);
        Assert.Equal(3, await output.PartitionCountAsync(ProductTopics.TooLate));
    }
}
