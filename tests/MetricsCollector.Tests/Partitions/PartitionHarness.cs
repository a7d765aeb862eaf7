using System.Collections.Concurrent;
using System.Text;
using Akka.Actor;
using Akka.TestKit;
using Confluent.Kafka;
using MetricsCollector.Core.Windows;
using MetricsCollector.Devices;
using MetricsCollector.Kafka;
using MetricsCollector.Kafka.Consumer;
using MetricsCollector.Observability;
using MetricsCollector.Partitions;
using MetricsCollector.ReadSide;

namespace MetricsCollector.Tests.Partitions;

/// <summary>A wall clock the test moves by hand.</summary>
internal sealed class SettableClock(long nowMs) : TimeProvider
{
    public long Now = nowMs;

    public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(Interlocked.Read(ref Now));
}

/// <summary>
/// Side topics kept in memory, so that a partition actor's logic can be tested without a broker (the
/// real producer is tested against the embedded broker in KafkaSideOutputTests). <see cref="Refuse"/>
/// makes a send fail, as the broker would.
/// </summary>
internal sealed class MemorySideTopics : ISideTopics
{
    public readonly ConcurrentQueue<(TopicPartition Destination, byte[] Value, string Reason, long SourceOffset, int? OriginalSize)> Sent = new();

    public Func<TopicPartition, byte[], KafkaException?> Refuse { get; set; } = (_, _) => null;

    public Task<int> PartitionCountAsync(string topic) => Task.FromResult(4);

    public Task<SideReadBack> ReadBackAsync(TopicPartition partition, long? from, int sourcePartition, CancellationToken cancellationToken = default)
    {
        var records = Sent.Where(s => s.Destination == partition).ToList();
        var found = new Dictionary<long, long>();
        for (var offset = 0; offset < records.Count; offset++)
            if (from is { } start && offset >= start) found.TryAdd(records[offset].SourceOffset, offset);
        return Task.FromResult(new SideReadBack(records.Count, found));
    }

    public Task<long> SendAsync(TopicPartition destination, byte[]? key, byte[]? value, string reason, int sourcePartition, long sourceOffset, int? originalSize)
    {
        if (Refuse(destination, value ?? []) is { } refused) return Task.FromException<long>(refused);
        lock (Sent)
        {
            Sent.Enqueue((destination, value ?? [], reason, sourceOffset, originalSize));
            return Task.FromResult((long)Sent.Count(s => s.Destination == destination) - 1);
        }
    }
}

/// <summary>
/// Checkpoints kept in memory, every save recorded. <see cref="Hold"/> decides a save's fate: the task it
/// returns holds the save until it completes (and fails it if it faults); throwing fails it at once.
/// </summary>
internal sealed class MemoryProgress : IPartitionProgressStore
{
    public readonly ConcurrentQueue<PartitionProgress> Saves = new();

    public Func<PartitionProgress, Task>? Hold { get; set; }

    public PartitionProgress? Last => Saves.LastOrDefault();

    public Task SaveAsync(string key, PartitionProgress progress)
    {
        var gate = Hold?.Invoke(progress);
        if (gate is null)
        {
            Saves.Enqueue(progress);
            return Task.CompletedTask;
        }
        return gate.ContinueWith(
            held =>
            {
                if (held.Exception is { } failure) throw failure.GetBaseException();
                Saves.Enqueue(progress);
            },
            TaskScheduler.Default);
    }

    public Task<PartitionProgress?> LoadAsync(string key) => Task.FromResult(Last);
}

/// <summary>The consumer's control as a partition actor uses it: commits recorded, the log's end set by the test.</summary>
internal sealed class ConsumerControlStub : IConsumerControl
{
    public readonly ConcurrentQueue<long> Commits = new();

    public long? LogEnd { get; set; }

    public void Commit(TopicPartition partition, long nextOffset) => Commits.Enqueue(nextOffset);

    public Task StopAsync() => Task.CompletedTask;

    public Task DrainAndShutdownAsync(TimeSpan timeout) => Task.CompletedTask;

    public long? HighWatermark(TopicPartition partition) => LogEnd;

    public void Reopen(TopicPartition partition, long offset) { }

    public Task Completion => Task.CompletedTask;
}

/// <summary>
/// One partition actor between test probes: the probe <see cref="Stream"/> plays its Kafka substream,
/// <see cref="Devices"/> its device shard region; side topics, checkpoints and the consumer are in memory.
/// </summary>
internal sealed class PartitionHarness
{
    public const string DeadLetter = "dlq";
    public const string TooLate = "late";
    public const long Minute = 60_000;
    public static readonly long T0 = 1_764_307_200_000;

    public readonly MemorySideTopics Sides = new();
    public readonly MemoryProgress Progress = new();
    public readonly ConsumerControlStub Consumer = new();
    public readonly SettableClock Clock = new(T0 + 60 * Minute);
    public readonly TestProbe Stream;
    public readonly TestProbe Devices;
    public readonly TestProbe TopN;
    public readonly PartitionContext Context;
    public IActorRef Actor = ActorRefs.Nobody;

    public PartitionHarness(TestKitBase kit, Func<PartitionContext, PartitionContext>? adjust = null)
    {
        Stream = kit.CreateTestProbe();
        Devices = kit.CreateTestProbe();
        TopN = kit.CreateTestProbe();
        var context = new PartitionContext
        {
            TopicPartition = new TopicPartition("input", 1),
            ProgressKey = "partition/test/input/1",
            Epoch = "cluster",
            Devices = Devices.Ref,
            ShardReady = Task.CompletedTask,
            TopN = TopN.Ref,
            SideOutput = Sides,
            Consumer = Consumer,
            Progress = Progress,
            Windows = new WindowSettings(new WindowSpec(30 * Minute, Minute), 5 * Minute),
            MaxOutOfOrderness = 5 * Minute,
            IdleTimeout = 30_000,
            MaxFutureSkew = 60 * Minute,
            DeadLetterTopic = DeadLetter,
            TooLateTopic = TooLate,
            Metrics = new CollectorMetrics(),
            Clock = Clock,
            CommitInterval = TimeSpan.FromMilliseconds(100),
            CommitStallWarning = TimeSpan.FromMinutes(1),
            PassivateAfter = TimeSpan.FromMinutes(2),
            MaxInFlight = 4_000,
            ResendAfter = TimeSpan.FromSeconds(30),
            FlushTimeout = TimeSpan.FromSeconds(2),
            Sides = new SideOutputSettings { MaxRecordBytes = 1_000_000, MaxPendingBytes = 16 << 20, FirstRetry = TimeSpan.FromMilliseconds(500), MaxRetry = TimeSpan.FromSeconds(30) },
            Backlog = new WriteBacklog(int.MaxValue),
        };
        Context = adjust?.Invoke(context) ?? context;
    }

    /// <summary>Starts the actor from <paramref name="start"/> and waits until it takes records.</summary>
    public IActorRef Start(PartitionProgress? start = null)
    {
        Actor = Stream.ChildActorOf(PartitionActor.Props(Context, start ?? PartitionProgress.Beginning("cluster")));
        Stream.Send(Actor, StreamInit.Instance);
        Stream.ExpectMsg<StreamAck>(TimeSpan.FromSeconds(10));
        return Actor;
    }

    public static KafkaRecord Record(long offset, string? json, long? appended = null) =>
        new(offset, appended ?? KafkaRecord.NoTimestamp, null, json is null ? null : Encoding.UTF8.GetBytes(json));

    public static KafkaRecord Record(long offset, byte[] value, long appended) => new(offset, appended, null, value);

    public static string Event(string device, long timestamp, double cpu = 50) =>
        $$"""{"deviceId":"{{device}}","timestamp":{{timestamp}},"cpuUsage":{{cpu}}}""";

    /// <summary>Events of <paramref name="device"/> at the given offsets and times, each appended when it happened.</summary>
    public static List<KafkaRecord> Events(string device, params (long Offset, long Time)[] events) =>
        events.Select(e => Record(e.Offset, Event(device, e.Time), e.Time)).ToList();

    /// <summary>A batch as the consumer hands it over: an array.</summary>
    public void Feed(IEnumerable<KafkaRecord> records) => Stream.Send(Actor, new RecordBatch(records.ToArray()));

    /// <summary>Feeds a batch and waits for the stream's acknowledgement.</summary>
    public void FeedAndAck(IEnumerable<KafkaRecord> records)
    {
        Feed(records);
        Stream.ExpectMsg<StreamAck>(TimeSpan.FromSeconds(10));
    }

    /// <summary>
    /// The next message to a device, acknowledged as a device would. The acknowledgement comes from the
    /// devices' probe, so the partition's direct messages to a device reach that same probe.
    /// </summary>
    public T ToDevice<T>() where T : IFromPartition
    {
        var message = Devices.ExpectMsg<T>(TimeSpan.FromSeconds(10));
        Actor.Tell(new DeviceAck(message.DeviceId, message.Delivery.Seq, message.Delivery.Slot), Devices.Ref);
        return message;
    }

    /// <summary>What the device's snapshot would report once it holds <paramref name="message"/>.</summary>
    public void Covered(IFromPartition message, long appliedOffset) =>
        Actor.Tell(new Covered(message.DeviceId, message.Delivery.Seq, appliedOffset));

    public PartitionEnd Ended(TimeSpan? within = null) =>
        Context.Ended.Task.Wait(within ?? TimeSpan.FromSeconds(10)) ? Context.Ended.Task.Result : throw new TimeoutException("the partition actor did not end");
}
