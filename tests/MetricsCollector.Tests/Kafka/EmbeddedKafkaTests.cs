using Confluent.Kafka;
using MetricsCollector.Kafka;

namespace MetricsCollector.Tests.Kafka;

public sealed class EmbeddedKafkaTests : IDisposable
{
    private readonly EmbeddedKafka _broker = EmbeddedKafka.Start(brokers: 3);

    public void Dispose() => _broker.Dispose();

    [Fact]
    public void Bootstrap_lists_one_loopback_address_per_broker()
    {
        var entries = _broker.BootstrapServers.Split(',');
        Assert.Equal(3, entries.Length);
        Assert.All(entries, e => Assert.StartsWith("127.0.0.1:", e, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Created_topics_have_the_requested_partitions_and_carry_records()
    {
        ProductTopics.Create(_broker, partitions: 10);

        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _broker.BootstrapServers }).Build();
        var metadata = admin.GetMetadata(TimeSpan.FromSeconds(10));
        foreach (var topic in new[] { ProductTopics.Input, ProductTopics.TooLate, ProductTopics.DeadLetter })
        {
            Assert.Equal(10, metadata.Topics.Single(t => t.Topic == topic).Partitions.Count);
        }

        using var producer = new ProducerBuilder<string, string>(new ProducerConfig
        {
            BootstrapServers = _broker.BootstrapServers,
            EnableIdempotence = true,
        }).Build();
        var delivered = await producer.ProduceAsync(ProductTopics.Input, new Message<string, string> { Key = "device-1", Value = "{}" });
        Assert.Equal(PersistenceStatus.Persisted, delivered.Status);

        Assert.Throws<InvalidOperationException>(() => _broker.CreateTopic(ProductTopics.Input, 10));
    }

    [Fact]
    public void Broker_ids_outside_the_cluster_are_rejected_and_dispose_is_idempotent()
    {
        _broker.SetBrokerDown(2);
        _broker.SetBrokerUp(2);
        _broker.Dispose();
        _broker.Dispose();
        Assert.Throws<ObjectDisposedException>(() => _broker.SetBrokerDown(1));
    }
}
