using System.Collections;
using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using MetricsCollector.Configuration;
using MetricsCollector.Hosting;
using MetricsCollector.Kafka;
using MetricsCollector.Kafka.Generation;
using MetricsCollector.Observability;
using Microsoft.Extensions.DependencyInjection;

/// <summary>
/// `pipeline [records] [partitions]`: a whole node (embedded broker, partition actors, sharded
/// devices, SQLite store) consuming a backlog, against the raw Confluent consumer's rate on the
/// same broker and records in the same run; plus the delay from a window firing to its row
/// being stored, measured while the node works through that backlog at full speed.
/// </summary>
internal static class PipelineBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var records = args.Length > 1 ? long.Parse(args[1], CultureInfo.InvariantCulture) : 1_000_000;
        var partitions = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 10;
        var dir = Directory.CreateTempSubdirectory("mc-pipeline-").FullName;
        try
        {
            using var broker = EmbeddedKafka.Start();
            broker.SetGroupInitialRebalanceDelay(TimeSpan.Zero);
            ProductTopics.Create(broker, partitions);
            Console.WriteLine($"broker {broker.BootstrapServers}, {records:N0} records, {partitions} partitions");

            // 10k devices; event time steps 1/rate per event from an hour ago, so 60 s windows fire as the backlog drains.
            var produce = await EventGenerator.RunAsync(
                new EventPlan(new GeneratorOptions
                {
                    Devices = 10_000, Count = records, Rate = 20_000, Seed = 3,
                    EventTimeStart = DateTimeOffset.UtcNow.AddHours(-1),
                    OutOfOrderFraction = 0.05, LateFraction = 0.01, TooLateFraction = 0.005, InvalidFraction = 0.002,
                    MaxOutOfOrderness = TimeSpan.FromSeconds(5), AllowedLateness = TimeSpan.FromSeconds(5),
                    WindowSize = TimeSpan.FromSeconds(60), WindowSlide = TimeSpan.FromSeconds(10),
                    OversizedBytes = 8 * 1024,
                }),
                new ProducerConfig { BootstrapServers = broker.BootstrapServers, CompressionType = CompressionType.Lz4, LingerMs = 20, BatchSize = 1_000_000 },
                ProductTopics.Input);
            Console.WriteLine($"produced: {produce}");
            var available = KafkaRawBenchmark.Available(broker.BootstrapServers, ProductTopics.Input, partitions);
            var raw = KafkaRawBenchmark.RawConsume(broker.BootstrapServers, ProductTopics.Input, available);

            var settings = CollectorSettings.Load(null, new Hashtable
            {
                ["MC_KAFKA_BOOTSTRAP"] = broker.BootstrapServers,
                ["MC_WINDOW_SIZE"] = "60s", ["MC_WINDOW_SLIDE"] = "10s",
                ["MC_MAX_OUT_OF_ORDERNESS"] = "5s", ["MC_ALLOWED_LATENESS"] = "5s", ["MC_IDLE_TIMEOUT"] = "30s",
                ["MC_STORE_CONNECTION"] = $"Data Source={Path.Combine(dir, "metrics.db")}",
                ["MC_HTTP_PORT"] = "0", ["MC_CLUSTER_PORT"] = "0", ["MC_GENERATOR"] = "off",
            });
            var clock = Stopwatch.StartNew();
            await using var app = NodeHost.Build(settings, broker.BootstrapServers);
            await app.StartAsync();
            var metrics = app.Services.GetRequiredService<CollectorMetrics>();
            var ingested = await Until(() => metrics.RecordsIn >= available, clock);
            var expectedApplied = metrics.EventsIn - metrics.TooLate;
            var applied = await Until(() => metrics.EventsApplied >= expectedApplied, clock);
            // Before the stop, which snapshots every device once more.
            var (snapshots, snapshotBytes) = (metrics.Snapshots, metrics.SnapshotBytes);
            await app.StopAsync();

            Console.WriteLine();
            Console.WriteLine("| path | records | seconds | records/s | vs raw |");
            Console.WriteLine("|---|---:|---:|---:|---:|");
            Console.WriteLine($"| raw Confluent consumer, no processing | {available:N0} | {raw.TotalSeconds:0.00} | {available / raw.TotalSeconds:N0} | 100 % |");
            Row("node: decoded and dispatched by partition actors", available, ingested, raw);
            Row("node: applied by device actors (end to end)", available, applied, raw);
            Console.WriteLine();
            Console.WriteLine($"windows fired {metrics.WindowsFired:N0}, rows written {metrics.RowsWritten:N0}");
            var seconds = applied.TotalSeconds;
            Console.WriteLine($"snapshots until applied: {snapshots:N0} in {seconds:0.0} s, {snapshots / seconds:N0}/s, "
                + $"{snapshotBytes / Math.Max(1, snapshots):N0} B each, {snapshotBytes / seconds / 1e6:0.00} MB/s");
            Console.WriteLine($"fire → stored: p50 {metrics.FireToStore(0.5)} ms, p99 {metrics.FireToStore(0.99)} ms, max {metrics.FireToStore(1.0)} ms");
            return 0;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static void Row(string name, long records, TimeSpan elapsed, TimeSpan raw) =>
        Console.WriteLine($"| {name} | {records:N0} | {elapsed.TotalSeconds:0.00} | {records / elapsed.TotalSeconds:N0} | {raw / elapsed:P0} |");

    private static async Task<TimeSpan> Until(Func<bool> done, Stopwatch clock)
    {
        var deadline = clock.Elapsed + TimeSpan.FromMinutes(10);
        while (!done())
        {
            if (clock.Elapsed > deadline) throw new TimeoutException("the node did not finish the backlog within 10 minutes");
            await Task.Delay(20);
        }
        return clock.Elapsed;
    }
}
