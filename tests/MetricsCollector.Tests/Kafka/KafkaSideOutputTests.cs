using System.Text;
using Confluent.Kafka;
using MetricsCollector.Kafka;

namespace MetricsCollector.Tests.Kafka;

public sealed class KafkaSideOutputTests : IDisposable
{
    private readonly EmbeddedKafka _broker = BrokerFixture.StartBroker(brokers: 1);

    public void Dispose() => _broker.Dispose();

    [Fact]
    public async Task Keeps_the_original_bytes_and_names_the_reason_in_a_header()
    {
        ProductTopics.Create(_broker, partitions: 3);
        byte[] original = [0x7B, 0xC3, 0x28, 0x7D];
        using (var output = new KafkaSideOutput(new ProducerConfig { BootstrapServers = _broker.BootstrapServers }))
        {
            var delivered = await output.ProduceAsync(
                ProductTopics.DeadLetter, Encoding.UTF8.GetBytes("device-1"), original, "bad-utf8",
                [new("source-partition", "4"), new("source-offset", "17")]);
            Assert.Equal(PersistenceStatus.Persisted, delivered.Status);
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
        Assert.Equal("17", Encoding.UTF8.GetString(record.Message.Headers.GetLastBytes("source-offset")));
    }
}
