using System.Collections.Concurrent;
using Confluent.Kafka;
using MetricsCollector.Kafka.Generation;
using MetricsCollector.Kafka.Tests.Support;

namespace MetricsCollector.Kafka.Tests.Generation;

public sealed class EventGeneratorTests : IDisposable
{
    private readonly EmbeddedKafka _broker = BrokerFixture.StartBroker(brokers: 1);

    public void Dispose() => _broker.Dispose();

    [Fact]
    public async Task Sends_the_whole_plan_keyed_by_device_so_each_device_stays_in_one_partition()
    {
        ProductTopics.Create(_broker, partitions: 10);
        var plan = new EventPlan(new GeneratorOptions
        {
            Devices = 40,
            Count = 5000,
            Rate = 1000,
            Seed = 3,
            OutOfOrderFraction = 0.1,
            InvalidFraction = 0.05,
            OversizedBytes = 2048,
        });

        var report = await EventGenerator.RunAsync(plan, _broker.BootstrapServers);

        Assert.Equal(0, report.Failed);
        Assert.Equal(5000, report.Total);
        Assert.Equal(plan.Count(e => e.Kind == EventKind.Invalid), report.Delivered[EventKind.Invalid]);

        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig
        {
            BootstrapServers = _broker.BootstrapServers,
            GroupId = "check",
            AutoOffsetReset = AutoOffsetReset.Earliest,
        }).Build();
        consumer.Assign(Enumerable.Range(0, 10).Select(p => new TopicPartitionOffset(ProductTopics.Input, p, Offset.Beginning)));
        var partitionsByKey = new ConcurrentDictionary<string, HashSet<int>>();
        for (var n = 0; n < 5000; n++)
        {
            var record = consumer.Consume(TimeSpan.FromSeconds(10));
            Assert.NotNull(record);
            partitionsByKey.GetOrAdd(Convert.ToBase64String(record.Message.Key), _ => []).Add(record.Partition.Value);
        }

        Assert.All(partitionsByKey.Values, partitions => Assert.Single(partitions));
        Assert.True(partitionsByKey.Values.Select(p => p.Single()).Distinct().Count() > 5, "devices spread over the partitions");
    }
}
