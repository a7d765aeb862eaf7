using System.Collections.Concurrent;
using Akka.Streams;
using Confluent.Kafka;
using MetricsCollector.Kafka.Tests.Support;
using static MetricsCollector.Kafka.Tests.Support.KafkaTestSupport;

namespace MetricsCollector.Kafka.Tests.Consumer;

/// <summary>
/// <see cref="MetricsCollector.Kafka.Consumer.KafkaConsumerSettings.OnAssigned"/> tells a member it
/// has joined the group, an empty assignment included: what readiness waits for.
/// </summary>
public sealed class AssignmentNoticeTests(BrokerFixture fixture) : Akka.TestKit.Xunit2.TestKit, IClassFixture<BrokerFixture>
{
    [Fact]
    public async Task Every_member_hears_of_its_assignment_even_one_that_gets_no_partition()
    {
        var topic = Unique("assigned");
        fixture.Broker.CreateTopic(topic, 1);
        var group = Unique("g");
        var assignments = new ConcurrentDictionary<int, IReadOnlyList<TopicPartition>>();

        var first = RunSubstreams(Settings(fixture.Broker.BootstrapServers, topic, group) with { OnAssigned = p => assignments[1] = p }, Sys.Materializer(), (_, _) => { });
        await WaitUntil(() => assignments.ContainsKey(1), TimeSpan.FromSeconds(30), "the first member's assignment");
        var second = RunSubstreams(Settings(fixture.Broker.BootstrapServers, topic, group) with { OnAssigned = p => assignments[2] = p }, Sys.Materializer(), (_, _) => { });
        await WaitUntil(() => assignments.ContainsKey(2), TimeSpan.FromSeconds(30), "the second member's assignment");
        // The rebalance that let the second member in may have handed it the one partition instead.
        await WaitUntil(() => assignments.Values.Sum(p => p.Count) == 1, TimeSpan.FromSeconds(30), "one partition between the two");

        Assert.Contains(assignments.Values, p => p.Count == 0);
        await Task.WhenAll(first.StopAsync(), second.StopAsync());
    }
}
