using System.Collections.Concurrent;
using Akka.Streams;
using Confluent.Kafka;
using MetricsCollector.Kafka.Tests.Support;
using static MetricsCollector.Kafka.Tests.Support.KafkaTestSupport;

namespace MetricsCollector.Kafka.Tests.Consumer;

/// <summary>A broker of its own: taking it down must not disturb the other test classes.</summary>
public sealed class BrokerOutageTests : Akka.TestKit.Xunit2.TestKit
{
    private readonly MetricsCollector.Kafka.EmbeddedKafka _broker = BrokerFixture.StartBroker(brokers: 1);

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        _broker.Dispose();
    }

    [Fact]
    public async Task The_stream_resumes_by_itself_after_the_broker_was_down_for_5_s()
    {
        var topic = Unique("outage");
        _broker.CreateTopic(topic, 2);
        Produce(_broker.BootstrapServers, topic, partitions: 2, perPartition: 100);
        var seen = new ConcurrentQueue<SeenRecord>();
        var (control, done) = RunCollecting(
            // Longer than the outage: the member keeps its partitions instead of rejoining.
            Settings(_broker.BootstrapServers, topic, Unique("g"), sessionTimeoutMs: 10_000), Sys.Materializer(), seen);
        await WaitUntil(() => seen.Count == 200, TimeSpan.FromSeconds(20), "the records before the outage");

        _broker.SetBrokerDown(1);
        await Task.Delay(TimeSpan.FromSeconds(5));
        Assert.False(done.IsCompleted, "a broker outage must not end the stream");
        _broker.SetBrokerUp(1);

        Produce(_broker.BootstrapServers, topic, partitions: 2, perPartition: 100, firstSeq: 100);
        await WaitUntil(() => seen.Select(Parse).Distinct().Count() == 400, TimeSpan.FromSeconds(30), "the records after the outage");
        await control.StopAsync();
        foreach (var partition in seen.GroupBy(r => r.Partition.Value))
        {
            Assert.Equal(Enumerable.Range(0, 200), partition.Select(r => Parse(r).Seq).Distinct().Order());
        }
    }
}
