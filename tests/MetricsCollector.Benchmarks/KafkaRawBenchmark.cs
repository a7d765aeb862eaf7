using System.CommandLine;
using System.Diagnostics;
using Akka.Actor;
using Akka.Streams;
using Akka.Streams.Dsl;
using Confluent.Kafka;
using MetricsCollector.Benchmarks;
using MetricsCollector.Kafka;
using MetricsCollector.Kafka.Consumer;
using MetricsCollector.Kafka.Generation;

/// <summary>
/// `kafka-raw [records] [partitions]`: consume rates against the embedded broker, outside
/// BenchmarkDotNet because one run moves millions of records through a broker in this process.
/// </summary>
internal static class KafkaRawBenchmark
{
    public static Command Command()
    {
        var records = Arguments.Positive("records", 2_000_000L, "Records produced, then consumed.");
        var partitions = Arguments.Positive("partitions", 10, "Partitions of the topic.");
        var command = new Command("kafka-raw", "Produce and consume rates against the embedded broker: the raw Confluent consumer and the partitioned source.")
        {
            records, partitions,
        };
        command.SetAction((parse, _) => RunAsync(parse.GetValue(records), parse.GetValue(partitions)));
        return command;
    }

    private static async Task<int> RunAsync(long records, int partitions)
    {
        const string topic = ProductTopics.Input;

        using var broker = EmbeddedKafka.Start();
        broker.SetGroupInitialRebalanceDelay(TimeSpan.Zero);
        broker.CreateTopic(topic, partitions);
        Console.WriteLine($"broker {broker.BootstrapServers}, {records:N0} records, {partitions} partitions");

        // The mock broker keeps at most 5 MiB per partition; lz4 lets 2M JSON events fit in 10.
        var produce = await EventGenerator.RunAsync(
            new EventPlan(new GeneratorOptions { Devices = 1000, Count = records, Rate = 10_000, Seed = 1 }),
            new ProducerConfig { BootstrapServers = broker.BootstrapServers, CompressionType = CompressionType.Lz4, LingerMs = 20, BatchSize = 1_000_000 },
            topic);
        Console.WriteLine($"produced: {produce}");

        var available = Available(broker.BootstrapServers, topic, partitions);
        if (available < records)
        {
            Console.WriteLine($"warning: the broker retained only {available:N0} of {records:N0} records (5 MiB per partition)");
        }

        var raw = RawConsume(broker.BootstrapServers, topic, available);
        var source = await PartitionedSource(broker.BootstrapServers, topic, available);

        Console.WriteLine();
        Console.WriteLine("| path | records | seconds | msgs/s |");
        Console.WriteLine("|---|---:|---:|---:|");
        Console.WriteLine($"| produce (EventGenerator, idempotent, lz4) | {produce.Total:N0} | {produce.Elapsed.TotalSeconds:0.00} | {produce.EventsPerSecond:N0} |");
        Console.WriteLine($"| raw Confluent consumer, no processing | {available:N0} | {raw.TotalSeconds:0.00} | {available / raw.TotalSeconds:N0} |");
        Console.WriteLine($"| KafkaSource.CommittablePartitioned, counted in substreams | {available:N0} | {source.TotalSeconds:0.00} | {available / source.TotalSeconds:N0} |");
        return 0;
    }

    internal static long Available(string bootstrap, string topic, int partitions)
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig { BootstrapServers = bootstrap, GroupId = "bench-watermarks" }).Build();
        return Enumerable.Range(0, partitions)
            .Select(p => consumer.QueryWatermarkOffsets(new TopicPartition(topic, p), TimeSpan.FromSeconds(10)))
            .Sum(w => w.High.Value - w.Low.Value);
    }

    internal static TimeSpan RawConsume(string bootstrap, string topic, long expected, string group = "bench-raw")
    {
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(new ConsumerConfig
        {
            BootstrapServers = bootstrap,
            GroupId = group,
            AutoOffsetReset = AutoOffsetReset.Earliest,
            EnableAutoCommit = false,
        }).Build();
        // Timed from Subscribe, group join included, the same as the source below.
        var clock = Stopwatch.StartNew();
        consumer.Subscribe(topic);
        for (var n = 0L; n < expected;)
        {
            if (consumer.Consume(1000) is not null)
            {
                n++;
            }
        }

        clock.Stop();
        consumer.Close();
        return clock.Elapsed;
    }

    private static async Task<TimeSpan> PartitionedSource(string bootstrap, string topic, long expected)
    {
        using var system = ActorSystem.Create("bench", "akka.loglevel = WARNING");
        var materializer = system.Materializer();
        long count = 0;
        var clock = Stopwatch.StartNew();
        var done = new TaskCompletionSource();
        var control = KafkaSource.CommittablePartitioned(new KafkaConsumerSettings
            {
                Config = new ConsumerConfig { BootstrapServers = bootstrap, GroupId = "bench-source" },
                Topics = [topic],
            })
            .To(Sink.ForEach<(TopicPartition Partition, Source<RecordBatch, Akka.NotUsed> Records)>(p =>
                p.Records.RunForeach(
                    batch =>
                    {
                        if (Interlocked.Add(ref count, batch.Count) == expected)
                        {
                            clock.Stop();
                            done.TrySetResult();
                        }
                    },
                    materializer)))
            .Run(materializer);
        await done.Task.WaitAsync(TimeSpan.FromMinutes(5));
        await control.StopAsync();
        await system.Terminate();
        return clock.Elapsed;
    }
}
