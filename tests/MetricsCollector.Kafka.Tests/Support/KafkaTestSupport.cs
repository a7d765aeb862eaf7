using System.Collections.Concurrent;
using System.Text;
using Akka.Streams;
using Akka.Streams.Dsl;
using Confluent.Kafka;
using MetricsCollector.Kafka.Consumer;

namespace MetricsCollector.Kafka.Tests.Support;

/// <summary>One embedded broker per test class; tests keep apart by topic and group names.</summary>
public sealed class BrokerFixture : IDisposable
{
    public EmbeddedKafka Broker { get; } = StartBroker(brokers: 3);

    public void Dispose() => Broker.Dispose();

    internal static EmbeddedKafka StartBroker(int brokers)
    {
        var broker = EmbeddedKafka.Start(brokers);
        // The 3 s default only waits for more members to show up; tests would just idle.
        broker.SetGroupInitialRebalanceDelay(TimeSpan.Zero);
        return broker;
    }
}

internal static class KafkaTestSupport
{
    private static int s_unique;

    public static string Unique(string prefix) => $"{prefix}-{Interlocked.Increment(ref s_unique)}-{Guid.NewGuid():N}";

    /// <summary>Writes <c>"partition:seq"</c> values straight to each partition, so order per partition is known.</summary>
    public static void Produce(string bootstrap, string topic, int partitions, int perPartition, int firstSeq = 0)
    {
        using var producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig
        {
            BootstrapServers = bootstrap,
            EnableIdempotence = true,
            LingerMs = 5,
        }).Build();
        for (var seq = firstSeq; seq < firstSeq + perPartition; seq++)
        {
            for (var p = 0; p < partitions; p++)
            {
                producer.Produce(
                    new TopicPartition(topic, p),
                    new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes($"device-{p}"), Value = Encoding.UTF8.GetBytes($"{p}:{seq}") });
            }
        }

        Assert.Equal(0, producer.Flush(TimeSpan.FromSeconds(30)));
    }

    /// <remarks>
    /// The mock broker waits <c>session.timeout.ms</c> − 1 s for members to rejoin whenever the
    /// group's membership changes, so a short session timeout keeps rebalances (and tests) short.
    /// </remarks>
    public static KafkaConsumerSettings Settings(string bootstrap, string topic, string group, int sessionTimeoutMs = 3000) => new()
    {
        Config = new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = group,
            SessionTimeoutMs = sessionTimeoutMs,
            HeartbeatIntervalMs = 300,
        },
        Topics = [topic],
    };

    /// <summary>Runs a partitioned source and hands each substream, as it opens, to <paramref name="opened"/>.</summary>
    public static IConsumerControl RunSubstreams(
        KafkaConsumerSettings settings,
        IMaterializer materializer,
        Action<TopicPartition, Source<RecordBatch, Akka.NotUsed>> opened) =>
        KafkaSource.CommittablePartitioned(settings)
            .ToMaterialized(
                Sink.ForEach<(TopicPartition Partition, Source<RecordBatch, Akka.NotUsed> Records)>(p => opened(p.Partition, p.Records)),
                Keep.Left)
            .Run(materializer);

    /// <summary>Runs every substream into <paramref name="seen"/>, record by record, committing each batch as it is handled.</summary>
    public static (IConsumerControl Control, Task Done) RunCollecting(
        KafkaConsumerSettings settings,
        IMaterializer materializer,
        ConcurrentQueue<SeenRecord> seen,
        ConcurrentQueue<(TopicPartition Partition, string Event)>? lifecycle = null)
    {
        IConsumerControl? control = null;
        var (ctl, done) = KafkaSource.CommittablePartitioned(settings)
            .ToMaterialized(
                Sink.ForEach<(TopicPartition Partition, Source<RecordBatch, Akka.NotUsed> Records)>(p =>
                {
                    lifecycle?.Enqueue((p.Partition, "opened"));
                    var finished = p.Records.RunForeach(
                        batch =>
                        {
                            foreach (var r in batch) seen.Enqueue(new SeenRecord(p.Partition.Partition, r.Offset, r.Value));
                            control!.Commit(p.Partition, batch[^1].Offset + 1);
                        },
                        materializer);
                    finished.ContinueWith(_ => lifecycle?.Enqueue((p.Partition, "completed")), TaskScheduler.Default);
                }),
                Keep.Both)
            .Run(materializer);
        control = ctl;
        return (ctl, done);
    }

    public static async Task WaitUntil(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out after {timeout} waiting for: {what}");
            }

            await Task.Delay(50);
        }
    }

    public static (int Partition, int Seq) Parse(SeenRecord record)
    {
        var parts = Encoding.UTF8.GetString(record.Value!).Split(':');
        return (int.Parse(parts[0]), int.Parse(parts[1]));
    }
}

/// <summary>A record a test's substreams handed over, with the partition it came from.</summary>
public sealed record SeenRecord(Partition Partition, long Offset, byte[]? Value);
