using System.Collections.Concurrent;
using Akka.Streams;
using Confluent.Kafka;
using MetricsCollector.Kafka.Consumer;
using MetricsCollector.Kafka.Tests.Support;
using static MetricsCollector.Kafka.Tests.Support.KafkaTestSupport;

namespace MetricsCollector.Kafka.Tests.Consumer;

public sealed class OffsetOutOfRangeTests(BrokerFixture fixture) : Akka.TestKit.Xunit2.TestKit, IClassFixture<BrokerFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly string _bootstrap = fixture.Broker.BootstrapServers;

    [Fact]
    public async Task A_partition_whose_offset_is_gone_is_reopened_where_asked_and_the_consumer_and_its_other_partitions_go_on()
    {
        // As after retention overtook a slow reader, or a log replaced by a shorter one: the offset a
        // partition reads at is past what the broker has. The application is told, and reopens it at the
        // log's start; librdkafka has stopped fetching that partition by then.
        var topic = Unique("gone");
        fixture.Broker.CreateTopic(topic, 2);
        Produce(_bootstrap, topic, partitions: 2, perPartition: 100);
        var gone = new TopicPartition(topic, 0);
        var told = new ConcurrentQueue<long>();
        IConsumerControl? control = null;
        var settings = Settings(_bootstrap, topic, Unique("g")) with
        {
            StartOffsets = (partitions, _) => Task.FromResult<IReadOnlyDictionary<TopicPartition, long>>(
                partitions.ToDictionary(p => p, p => p.Partition.Value == 0 ? 500L : 0L)),
            OnOffsetOutOfRange = (partition, offset) =>
            {
                told.Enqueue(offset);
                // Later and from another thread, as the node does once the partition's actor has ended.
                _ = Task.Delay(200).ContinueWith(_ => control!.Reopen(partition, 0), TaskScheduler.Default);
            },
        };
        settings = settings with { Config = new ConsumerConfig(settings.Config) { AutoOffsetReset = AutoOffsetReset.Error } };
        var seen = new ConcurrentQueue<SeenRecord>();
        var (ctl, done) = RunCollecting(settings, Sys.Materializer(), seen);
        control = ctl;

        await WaitUntil(() => seen.Count(r => r.Partition.Value == 0) == 100 && seen.Count(r => r.Partition.Value == 1) == 100 || done.IsCompleted,
            Patience, "every record of both partitions");
        Assert.False(done.IsCompleted, $"the consumer ended: {done.Exception?.GetBaseException().Message}");
        Assert.False(ctl.Completion.IsFaulted, $"the consumer failed: {ctl.Completion.Exception?.GetBaseException().Message}");
        Assert.Equal(500, Assert.Single(told));
        Assert.Equal(Enumerable.Range(0, 100).Select(i => (long)i), seen.Where(r => r.Partition == gone.Partition).Select(r => r.Offset));
        // The other partition went on from where it was: nothing read twice.
        await Task.Delay(500);
        Assert.Equal(Enumerable.Range(0, 100).Select(i => (long)i), seen.Where(r => r.Partition.Value == 1).Select(r => r.Offset));

        await ctl.StopAsync();
    }
}
