using Confluent.Kafka;
using MetricsCollector.Kafka.Generation;
using MetricsCollector.Kafka.Tests.Support;

namespace MetricsCollector.Kafka.Tests;

/// <summary>
/// The pass-through librdkafka properties reach every Kafka client the library makes (the node's
/// generator service and group consumer are tested with them, in MetricsCollector.Tests). Where a
/// client is made inside a method, a property librdkafka refuses at construction shows that
/// the property got there: the error names it.
/// </summary>
public sealed class KafkaClientsTests : IDisposable
{
    /// <summary>Refused by every client at construction.</summary>
    private static readonly Dictionary<string, string> RefusedByAll = new() { ["security.protocol"] = "bogus" };

    /// <summary>A producer only warns that it ignores it; a consumer refuses it at construction (under its 45 s session timeout).</summary>
    private static readonly Dictionary<string, string> RefusedByConsumers = new() { ["max.poll.interval.ms"] = "1000" };

    private readonly EmbeddedKafka _broker = BrokerFixture.StartBroker(brokers: 1);

    public void Dispose() => _broker.Dispose();

    [Fact]
    public void Every_config_carries_the_bootstrap_servers_and_the_properties()
    {
        var clients = new KafkaClients("kafka-1:9093", new Dictionary<string, string> { ["security.protocol"] = "SASL_SSL", ["client.id"] = "mc" });

        foreach (var config in new ClientConfig[] { clients.Producer(), clients.Consumer("group"), clients.Admin() })
        {
            Assert.Equal("kafka-1:9093", config.BootstrapServers);
            Assert.Equal("SASL_SSL", config.Get("security.protocol"));
            Assert.Equal("mc", config.ClientId);
        }
        Assert.Equal("group", clients.Consumer("group").GroupId);
    }

    [Fact]
    public void Librdkafka_judges_the_properties_without_connecting()
    {
        Assert.Null(KafkaClients.Check(new Dictionary<string, string> { ["security.protocol"] = "SASL_SSL", ["sasl.mechanism"] = "SCRAM-SHA-512", ["sasl.username"] = "u", ["sasl.password"] = "p" }));
        // A consumer's property does not apply to the producer the check makes; it is not an error.
        Assert.Null(KafkaClients.Check(new Dictionary<string, string> { ["fetch.min.bytes"] = "10" }));
        Assert.Contains("security.protocol", KafkaClients.Check(RefusedByAll), StringComparison.Ordinal);
        Assert.Contains("no.such.property", KafkaClients.Check(new Dictionary<string, string> { ["no.such.property"] = "1" }), StringComparison.Ordinal);
        // librdkafka only warns of a SASL mechanism without a SASL protocol, and then ignores it.
        Assert.Contains("sasl.mechanism", KafkaClients.Check(new Dictionary<string, string> { ["sasl.mechanism"] = "PLAIN" }), StringComparison.Ordinal);
    }

    [Fact]
    public void The_side_topic_producer_gets_the_properties()
    {
        var e = Assert.Throws<ArgumentException>(() => new KafkaSideOutput(new KafkaClients(_broker.BootstrapServers, RefusedByAll)));
        Assert.Contains("security.protocol", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_side_topic_reader_gets_the_properties()
    {
        ProductTopics.Create(_broker, partitions: 1);
        using var output = new KafkaSideOutput(new KafkaClients(_broker.BootstrapServers, RefusedByConsumers));
        var e = await Assert.ThrowsAnyAsync<Exception>(() => output.ReadBackAsync(new TopicPartition(ProductTopics.DeadLetter, 0), null, sourcePartition: 0));
        Assert.Contains("max.poll.interval.ms", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_generator_gets_the_properties()
    {
        var plan = new EventPlan(new GeneratorOptions { Devices = 1, Count = 1, Rate = 1 });
        var e = await Assert.ThrowsAsync<ArgumentException>(() => EventGenerator.RunAsync(plan, new KafkaClients(_broker.BootstrapServers, RefusedByAll).Producer()));
        Assert.Contains("security.protocol", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_broker_identity_check_gets_the_properties()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => BrokerIdentity.ClusterIdAsync(new KafkaClients(_broker.BootstrapServers, RefusedByAll), TimeSpan.FromSeconds(10)));
        Assert.Contains("security.protocol", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Two_embedded_brokers_are_two_clusters()
    {
        using var other = EmbeddedKafka.Start();
        var first = await BrokerIdentity.ClusterIdAsync(new KafkaClients(_broker.BootstrapServers), TimeSpan.FromSeconds(10));
        var second = await BrokerIdentity.ClusterIdAsync(new KafkaClients(other.BootstrapServers), TimeSpan.FromSeconds(10));
        Assert.NotEqual(first, second);
    }
}
