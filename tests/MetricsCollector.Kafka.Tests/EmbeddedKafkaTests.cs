using Confluent.Kafka;

namespace MetricsCollector.Kafka.Tests;

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
    public async Task The_embedded_broker_is_known_as_the_mock_and_gets_its_shorter_session()
    {
        // The mock waits session - 1 s before each assignment; a real broker refuses less than 6 s by default.
        var clusterId = await BrokerIdentity.ClusterIdAsync(new KafkaClients(_broker.BootstrapServers), TimeSpan.FromSeconds(10));
        Assert.Equal(TimeSpan.FromSeconds(5), BrokerIdentity.SessionTimeoutFor(clusterId));
        Assert.Equal(TimeSpan.FromSeconds(6), BrokerIdentity.SessionTimeoutFor("MkU3OEVBNTcwNTJENDM2Qk"));
    }

    [Fact]
    public async Task Created_topics_have_the_requested_partitions_and_carry_records()
    {
        ProductTopics.Create(_broker, partitions: 10);

        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = _broker.BootstrapServers }).Build();
        var metadata = admin.GetMetadata(TimeSpan.FromSeconds(10));
        foreach (var topic in new[] { ProductTopics.Input, ProductTopics.TooLate, ProductTopics.DeadLetter, ProductTopics.Results })
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
    public void Brokers_go_down_and_up_and_dispose_is_idempotent()
    {
        _broker.SetBrokerDown(2);
        _broker.SetBrokerUp(2);
        _broker.Dispose();
        _broker.Dispose();
        Assert.Throws<ObjectDisposedException>(() => _broker.SetBrokerDown(1));
    }

    [Fact]
    public async Task A_fixed_port_serves_producers_and_group_consumers_through_the_relay()
    {
        var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        var port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();

        using var broker = EmbeddedKafka.Start(firstPort: port);
        Assert.Equal($"127.0.0.1:{port}", broker.BootstrapServers);
        broker.SetGroupInitialRebalanceDelay(TimeSpan.Zero);
        broker.CreateTopic("relayed", 2);

        using (var producer = new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = broker.BootstrapServers, EnableIdempotence = true }).Build())
        {
            for (var i = 0; i < 10; i++)
            {
                await producer.ProduceAsync("relayed", new Message<string, string> { Key = $"device-{i}", Value = $"{i}" });
            }
        }

        using var consumer = new ConsumerBuilder<string, string>(new ConsumerConfig
        {
            BootstrapServers = broker.BootstrapServers,
            GroupId = "relayed",
            AutoOffsetReset = AutoOffsetReset.Earliest,
        }).Build();
        consumer.Subscribe("relayed");
        var values = new List<string>();
        while (values.Count < 10)
        {
            var record = consumer.Consume(TimeSpan.FromSeconds(10));
            Assert.NotNull(record);
            values.Add(record.Message.Value);
        }

        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"{i}"), values.Order(StringComparer.Ordinal));
        consumer.Close();
    }
}
