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

    [Fact]
    public async Task Paced_with_a_speed_event_time_runs_that_many_times_faster_than_the_wall_clock()
    {
        ProductTopics.Create(_broker, partitions: 2);
        // 12 s of event time at 30× takes 0.4 s at least; paced in real time it would take 12 s.
        var plan = new EventPlan(new GeneratorOptions
        {
            Devices = 10,
            Count = 6000,
            Rate = 500,
            Speed = 30,
            EventTimeStart = DateTimeOffset.UtcNow.AddHours(-1),
        });

        var report = await EventGenerator.RunAsync(plan, _broker.BootstrapServers, paced: true);

        Assert.Equal(6000, report.Total);
        Assert.InRange(report.Elapsed, TimeSpan.FromSeconds(0.38), TimeSpan.FromSeconds(6));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void A_speed_that_is_not_a_finite_positive_number_is_refused(double speed) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new EventPlan(new GeneratorOptions { Speed = speed }));
}
