using System.Collections.Concurrent;
using Akka.Streams;
using Akka.Streams.Dsl;
using Confluent.Kafka;
using MetricsCollector.Kafka.Consumer;
using MetricsCollector.Kafka.Tests.Support;
using static MetricsCollector.Kafka.Tests.Support.KafkaTestSupport;

namespace MetricsCollector.Kafka.Tests.Consumer;

public sealed class ShutdownTests(BrokerFixture fixture) : Akka.TestKit.Xunit2.TestKit, IClassFixture<BrokerFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly string _bootstrap = fixture.Broker.BootstrapServers;

    [Fact]
    public async Task On_stop_the_revocation_handler_runs_after_the_substreams_completed_and_its_commits_count()
    {
        var topic = Unique("stop");
        fixture.Broker.CreateTopic(topic, 1);
        Produce(_bootstrap, topic, partitions: 1, perPartition: 100);
        var group = Unique("g");
        var handled = new ConcurrentQueue<long>();
        var substreamDone = new TaskCompletionSource();
        var completedBeforeHandler = false;
        IConsumerControl? control = null;
        var settings = Settings(_bootstrap, topic, group) with
        {
            OnRevoked = (partitions, lost, cancellationToken) =>
            {
                completedBeforeHandler = substreamDone.Task.Wait(TimeSpan.FromSeconds(5), cancellationToken);
                Assert.False(lost);
                // What the application would do: commit up to what it has made durable.
                control!.Commit(partitions.Single(), 30);
                return Task.CompletedTask;
            },
        };
        control = KafkaSource.CommittablePartitioned(settings)
            .To(Sink.ForEach<(TopicPartition Partition, Source<RecordBatch, Akka.NotUsed> Records)>(p =>
                p.Records.SelectMany(batch => batch).RunForeach(r => handled.Enqueue(r.Offset), Sys.Materializer())
                    .ContinueWith(_ => substreamDone.TrySetResult(), TaskScheduler.Default)))
            .Run(Sys.Materializer());
        await WaitUntil(() => handled.Count == 100, Patience, "all 100 records");

        await control.StopAsync();
        Assert.True(completedBeforeHandler, "the substream completed before the revocation handler ran");

        var again = new ConcurrentQueue<SeenRecord>();
        var (next, _) = RunCollecting(Settings(_bootstrap, topic, group), Sys.Materializer(), again);
        await WaitUntil(() => again.Count == 70, Patience, "the 70 records after the committed offset");
        await next.StopAsync();
        Assert.Equal(30, again.Min(r => r.Offset));
    }

    [Fact]
    public async Task Drain_and_shutdown_emits_what_was_fetched_before_completing()
    {
        var topic = Unique("drain");
        fixture.Broker.CreateTopic(topic, 2);
        Produce(_bootstrap, topic, partitions: 2, perPartition: 300);
        var seen = new ConcurrentQueue<SeenRecord>();
        var materializer = Sys.Materializer();
        // Small batches: a batch leaves the buffer whole, and the records must still be there when the drain starts.
        var (control, done) = KafkaSource.CommittablePartitioned(Settings(_bootstrap, topic, Unique("g")) with { BatchSize = 10 })
            .ToMaterialized(Sink.ForEach<(TopicPartition Partition, Source<RecordBatch, Akka.NotUsed> Records)>(p =>
                // Slow on purpose, so that records are still buffered when the drain starts.
                p.Records.SelectMany(batch => batch).Throttle(200, TimeSpan.FromSeconds(1), 1, ThrottleMode.Shaping).RunForeach(r => seen.Enqueue(new SeenRecord(p.Partition.Partition, r.Offset, r.Value)), materializer)), Keep.Both)
            .Run(materializer);
        await WaitUntil(() => seen.Count >= 20, Patience, "the first records");

        var before = seen.Count;
        await control.DrainAndShutdownAsync(TimeSpan.FromSeconds(10));
        await done.WaitAsync(Patience);

        Assert.True(seen.Count > before + 100, $"kept emitting while draining ({before} -> {seen.Count})");
        foreach (var partition in seen.GroupBy(r => r.Partition.Value))
        {
            Assert.Equal(Enumerable.Range(0, partition.Count()).Select(i => (long)i), partition.Select(r => r.Offset));
        }
    }
}
