using System.Collections.Concurrent;
using Akka.Streams;
using Akka.Streams.Dsl;
using Confluent.Kafka;
using MetricsCollector.Kafka.Consumer;
using MetricsCollector.Kafka.Tests.Support;
using static MetricsCollector.Kafka.Tests.Support.KafkaTestSupport;

namespace MetricsCollector.Kafka.Tests.Consumer;

public sealed class PartitionedSourceTests(BrokerFixture fixture) : Akka.TestKit.Xunit2.TestKit, IClassFixture<BrokerFixture>
{
    // Generous: every wait ends as soon as its condition holds. 8,000 records through 50-record
    // buffers pause and resume each partition some forty times, which took 4-15 s alone on this
    // machine, and once more than 20 s at the start of a full run, beside the core property tests.
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private readonly string _bootstrap = fixture.Broker.BootstrapServers;

    /// <summary>
    /// A small buffer makes every partition pause and resume many times. Each pause makes
    /// librdkafka drop what it prefetched and fetch again after its in-flight long poll returns,
    /// so small fetches and short polls keep those cycles quick. Small batches keep what a
    /// substream's sink holds well below the buffer, so that a sink that stops taking pauses it.
    /// </summary>
    private static KafkaConsumerSettings SmallBuffers(KafkaConsumerSettings settings)
    {
        settings.Config.FetchWaitMaxMs = 20;
        settings.Config.MaxPartitionFetchBytes = 2048;
        return settings with { PartitionBufferSize = 50, BatchSize = 10 };
    }

    [Fact]
    public async Task Every_record_of_every_partition_arrives_once_in_order()
    {
        var topic = Unique("all");
        fixture.Broker.CreateTopic(topic, 4);
        Produce(_bootstrap, topic, partitions: 4, perPartition: 2000);

        var seen = new ConcurrentQueue<SeenRecord>();
        var settings = SmallBuffers(Settings(_bootstrap, topic, Unique("g")));
        var (control, _) = RunCollecting(settings, Sys.Materializer(), seen);
        await WaitUntil(() => seen.Count >= 8000, Patience, "8000 records");
        await Task.Delay(300);
        await control.StopAsync();

        Assert.Equal(8000, seen.Count);
        foreach (var partition in seen.GroupBy(r => r.Partition.Value))
        {
            Assert.Equal(Enumerable.Range(0, 2000).Select(i => (long)i), partition.Select(r => r.Offset));
            Assert.Equal(Enumerable.Range(0, 2000), partition.Select(r => Parse(r).Seq));
        }
    }

    [Fact]
    public async Task The_record_byte_pool_keeps_as_many_free_arrays_as_the_assigned_partitions_buffers_hold()
    {
        var topic = Unique("pool");
        fixture.Broker.CreateTopic(topic, 4);
        Produce(_bootstrap, topic, partitions: 4, perPartition: 100);
        var pool = new RecordBytePool(maxFree: 1);

        var seen = new ConcurrentQueue<SeenRecord>();
        var settings = SmallBuffers(Settings(_bootstrap, topic, Unique("g"))) with { RecordBytes = pool };
        var (control, _) = RunCollecting(settings, Sys.Materializer(), seen);
        await WaitUntil(() => seen.Count >= 400, Patience, "400 records");

        // A key and a value for each record of four buffers of 50.
        Assert.Equal(2 * 50 * 4, pool.MaxFree);
        await control.StopAsync();
        Assert.Equal(0, pool.MaxFree);
    }

    [Fact]
    public async Task A_slow_substream_pauses_only_its_own_partition()
    {
        var topic = Unique("slow");
        fixture.Broker.CreateTopic(topic, 2);
        Produce(_bootstrap, topic, partitions: 2, perPartition: 1000);

        var fastCount = 0;
        var slowQueue = new TaskCompletionSource<ISinkQueue<RecordBatch>>();
        var materializer = Sys.Materializer();
        var settings = SmallBuffers(Settings(_bootstrap, topic, Unique("g")));
        var control = RunSubstreams(settings, materializer, (partition, records) =>
        {
            if (partition.Partition.Value == 0)
            {
                slowQueue.TrySetResult(records.RunWith(Sink.Queue<RecordBatch>(), materializer));
            }
            else
            {
                records.RunForeach(batch => Interlocked.Add(ref fastCount, batch.Count), materializer);
            }
        });

        await WaitUntil(() => Volatile.Read(ref fastCount) == 1000, Patience, "the fast partition to flow through");
        var slow = await slowQueue.Task;

        var offsets = new List<long>();
        while (offsets.Count < 1000)
        {
            var batch = await slow.PullAsync();
            Assert.True(batch.HasValue);
            offsets.AddRange(batch.Value.Select(r => r.Offset));
        }

        Assert.Equal(Enumerable.Range(0, 1000).Select(i => (long)i), offsets);
        await control.StopAsync();
    }

    [Fact]
    public async Task After_commit_and_restart_the_group_resumes_at_the_committed_offset()
    {
        var topic = Unique("restart");
        fixture.Broker.CreateTopic(topic, 1);
        Produce(_bootstrap, topic, partitions: 1, perPartition: 100);
        var group = Unique("g");
        var tp = new TopicPartition(topic, 0);

        var first = new ConcurrentQueue<SeenRecord>();
        var control = KafkaSource.CommittablePartitioned(Settings(_bootstrap, topic, group))
            .ToMaterialized(Sink.ForEach<(TopicPartition Partition, Source<RecordBatch, Akka.NotUsed> Records)>(p =>
                p.Records.SelectMany(batch => batch).Take(40).RunForeach(r => first.Enqueue(new SeenRecord(p.Partition.Partition, r.Offset, r.Value)), Sys.Materializer())), Keep.Left)
            .Run(Sys.Materializer());
        await WaitUntil(() => first.Count == 40, Patience, "the first 40 records");
        control.Commit(tp, 40);
        await control.StopAsync();

        var second = new ConcurrentQueue<SeenRecord>();
        var (again, _) = RunCollecting(Settings(_bootstrap, topic, group), Sys.Materializer(), second);
        await WaitUntil(() => second.Count == 60, Patience, "the remaining 60 records");
        await again.StopAsync();
        Assert.Equal(Enumerable.Range(40, 60).Select(i => (long)i), second.Select(r => r.Offset));
    }

    [Fact]
    public async Task Partitions_the_start_offsets_hook_leaves_out_start_at_their_committed_offsets()
    {
        var topic = Unique("meta");
        fixture.Broker.CreateTopic(topic, 2);
        Produce(_bootstrap, topic, partitions: 2, perPartition: 100);
        var group = Unique("g");
        var seen = new ConcurrentQueue<SeenRecord>();
        var (first, _) = RunCollecting(Settings(_bootstrap, topic, group), Sys.Materializer(), seen);
        await WaitUntil(() => seen.Count == 200, Patience, "all records");
        // After RunCollecting's own commits (offset 100), so these are the last word.
        await Task.Delay(300);
        first.Commit(new TopicPartition(topic, 0), 60);
        first.Commit(new TopicPartition(topic, 1), 70);
        await first.StopAsync();

        var answered = new TaskCompletionSource<IReadOnlyList<TopicPartition>>();
        var settings = Settings(_bootstrap, topic, group) with
        {
            StartOffsets = (partitions, _) =>
            {
                answered.TrySetResult(partitions);
                return Task.FromResult<IReadOnlyDictionary<TopicPartition, long>>(new Dictionary<TopicPartition, long>());
            },
        };
        var again = new ConcurrentQueue<SeenRecord>();
        var (second, _) = RunCollecting(settings, Sys.Materializer(), again);
        Assert.Equal(2, (await answered.Task.WaitAsync(Patience)).Count);
        await WaitUntil(() => again.Count == 70, Patience, "the records after the committed offsets");
        await second.StopAsync();

        Assert.Equal(60, again.Where(r => r.Partition.Value == 0).Min(r => r.Offset));
        Assert.Equal(70, again.Where(r => r.Partition.Value == 1).Min(r => r.Offset));
    }

    [Fact]
    public async Task The_start_offsets_hook_decides_where_assigned_partitions_begin()
    {
        var topic = Unique("start");
        fixture.Broker.CreateTopic(topic, 3);
        Produce(_bootstrap, topic, partitions: 3, perPartition: 50);
        IReadOnlyList<TopicPartition>? asked = null;
        var settings = Settings(_bootstrap, topic, Unique("g")) with
        {
            StartOffsets = (partitions, _) =>
            {
                asked = partitions;
                return Task.FromResult<IReadOnlyDictionary<TopicPartition, long>>(
                    new Dictionary<TopicPartition, long> { [new TopicPartition(topic, 1)] = 25 });
            },
        };

        var seen = new ConcurrentQueue<SeenRecord>();
        var (control, _) = RunCollecting(settings, Sys.Materializer(), seen);
        await WaitUntil(() => seen.Count >= 125, Patience, "125 records");
        await control.StopAsync();

        Assert.Equal(3, asked!.Count);
        Assert.Equal(25, seen.Where(r => r.Partition.Value == 1).Min(r => r.Offset));
        Assert.Equal(25, seen.Count(r => r.Partition.Value == 1));
        Assert.Equal(50, seen.Count(r => r.Partition.Value == 0));
    }

    [Theory]
    [InlineData(PartitionAssignmentStrategy.Range)]
    [InlineData(PartitionAssignmentStrategy.CooperativeSticky)]
    public async Task A_start_offsets_hook_that_fails_fails_the_source_and_reads_nothing(PartitionAssignmentStrategy strategy)
    {
        var topic = Unique("startfail");
        fixture.Broker.CreateTopic(topic, 2);
        Produce(_bootstrap, topic, partitions: 2, perPartition: 50);
        var settings = Settings(_bootstrap, topic, Unique("g")) with
        {
            StartOffsets = (_, _) => Task.FromException<IReadOnlyDictionary<TopicPartition, long>>(new InvalidOperationException("store down")),
        };
        settings.Config.PartitionAssignmentStrategy = strategy;

        var seen = new ConcurrentQueue<SeenRecord>();
        var (control, _) = RunCollecting(settings, Sys.Materializer(), seen);

        // With a cooperative assignor a failure thrown back to librdkafka left the consumer
        // waiting for an assignment that never came, and closing it hung.
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => control.Completion.WaitAsync(Patience));
        Assert.Equal("store down", failure.Message);
        Assert.Empty(seen);
    }

    [Fact]
    public async Task A_partition_paused_when_it_was_revoked_flows_again_when_it_comes_back()
    {
        var topic = Unique("paused");
        fixture.Broker.CreateTopic(topic, 1);
        Produce(_bootstrap, topic, partitions: 1, perPartition: 1000);
        var group = Unique("g");
        var materializer = Sys.Materializer();

        // The first substream takes nothing, so its buffer fills and the partition is paused; the
        // one after the rebalances reads.
        var opened = 0;
        var offsets = new ConcurrentQueue<long>();
        var a = RunSubstreams(SmallBuffers(Settings(_bootstrap, topic, group)), materializer, (_, records) =>
        {
            if (Interlocked.Increment(ref opened) == 1) records.RunWith(Sink.Queue<RecordBatch>(), materializer);
            else records.SelectMany(batch => batch).RunForeach(r => offsets.Enqueue(r.Offset), materializer);
        });
        await WaitUntil(() => Volatile.Read(ref opened) == 1, Patience, "A to take the partition");
        await Task.Delay(1000);

        // B joining makes A revoke the partition (eager); it goes to one of them, and B leaving
        // leaves it with A. B commits nothing, so A reads it from the beginning.
        var bOpened = 0;
        var b = RunSubstreams(Settings(_bootstrap, topic, group), materializer, (_, records) =>
        {
            Interlocked.Increment(ref bOpened);
            records.RunWith(Sink.Ignore<RecordBatch>(), materializer);
        });
        await WaitUntil(() => Volatile.Read(ref opened) >= 2 || Volatile.Read(ref bOpened) >= 1, Patience, "the rebalance B's join starts");
        await b.StopAsync();

        await WaitUntil(() => offsets.Contains(999), Patience, "A to read the partition to its end");
        await a.StopAsync();
    }

    [Theory]
    [InlineData(PartitionAssignmentStrategy.Range)]
    [InlineData(PartitionAssignmentStrategy.CooperativeSticky)]
    public async Task Members_split_the_partitions_and_a_joining_and_leaving_member_loses_nothing(PartitionAssignmentStrategy strategy)
    {
        const int partitions = 6;
        var topic = Unique("group");
        fixture.Broker.CreateTopic(topic, partitions);
        var group = Unique("g");
        var materializer = Sys.Materializer();
        var seen = new ConcurrentQueue<SeenRecord>();
        var events = new[] { new ConcurrentQueue<(TopicPartition, string)>(), new(), new() };
        var revokedSeen = 0;
        KafkaConsumerSettings Member()
        {
            var settings = Settings(_bootstrap, topic, group);
            settings.Config.PartitionAssignmentStrategy = strategy;
            return settings with
            {
                OnRevoked = (_, _, _) =>
                {
                    Interlocked.Increment(ref revokedSeen);
                    return Task.CompletedTask;
                },
            };
        }

        int Owned(int member) => events[member].Count(e => e.Item2 == "opened") - events[member].Count(e => e.Item2 == "completed");

        var (a, _) = RunCollecting(Member(), materializer, seen, events[0]);
        var (b, _) = RunCollecting(Member(), materializer, seen, events[1]);
        await WaitUntil(() => Owned(0) > 0 && Owned(1) > 0 && Owned(0) + Owned(1) == partitions, Patience, "A and B to share the partitions");
        Produce(_bootstrap, topic, partitions, perPartition: 200, firstSeq: 0);

        var (c, _) = RunCollecting(Member(), materializer, seen, events[2]);
        await WaitUntil(() => Owned(2) > 0 && Owned(0) + Owned(1) + Owned(2) == partitions, Patience, "C to take a share");
        Assert.True(events[0].Any(e => e.Item2 == "completed") || events[1].Any(e => e.Item2 == "completed"), "a substream of A or B completed on revocation");
        Produce(_bootstrap, topic, partitions, perPartition: 200, firstSeq: 200);

        await c.StopAsync();
        await WaitUntil(() => Owned(2) == 0 && Owned(0) + Owned(1) == partitions, Patience, "A and B to take C's partitions back");
        Produce(_bootstrap, topic, partitions, perPartition: 200, firstSeq: 400);

        var expected = partitions * 600;
        await WaitUntil(() => seen.Select(Parse).Distinct().Count() == expected, Patience, "every record");
        await Task.WhenAll(a.StopAsync(), b.StopAsync());

        Assert.True(revokedSeen > 0);
        foreach (var partition in seen.GroupBy(r => r.Partition.Value))
        {
            Assert.Equal(Enumerable.Range(0, 600), partition.Select(r => Parse(r).Seq).Distinct().Order());
        }
    }
}
