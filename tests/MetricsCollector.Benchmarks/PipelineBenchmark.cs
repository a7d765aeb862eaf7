using System.Collections;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using MetricsCollector.Benchmarks;
using MetricsCollector.Configuration;
using MetricsCollector.Hosting;
using MetricsCollector.Kafka;
using MetricsCollector.Kafka.Generation;
using MetricsCollector.Observability;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

/// <summary>
/// `pipeline [records] [partitions] [--store sqlite|postgresql] [--passes N] [--warm-up F] [--config FILE]`: a whole node (embedded broker,
/// partition actors, sharded devices, the store) consuming a backlog, against the raw Confluent consumer on the
/// same broker and records in the same run (the median of several passes). The node runs as the product runs
/// (server GC, this project's runtime configuration) and is measured after a warm-up (by default the first tenth of
/// the events; a longer one leaves the JIT's tiering behind), over which it prints where the CPU went, stage by stage, what it allocated and what GC cost, and
/// the delay from a window firing to its row being stored.
/// </summary>
internal static class PipelineBenchmark
{
    public static Command Command()
    {
        var records = Arguments.Positive("records", 1_000_000L, "Records produced as the backlog.");
        var partitions = Arguments.Positive("partitions", 10, "Partitions of the input topic.");
        var store = new Option<string>("--store") { Description = "The node's store; postgresql takes the server MC_TEST_PG names.", DefaultValueFactory = _ => "sqlite" }
            .AcceptOnlyFromAmong("sqlite", "postgresql");
        var passes = Arguments.PositiveOption("--passes", 3, "Raw consumer passes; their median is the yardstick.");
        var warmUp = Arguments.FractionOption("--warm-up", 0.1, "The share of the events applied before the measurement starts.");
        var config = new Option<FileInfo?>("--config") { Description = "A HOCON file over the node's defaults, as `run --config` takes: to measure a setting." };
        var allocations = new Option<int>("--allocations") { Description = "Also print the N types that allocated most over the measurement, from the runtime's allocation samples (0: none).", DefaultValueFactory = _ => 0 };
        var command = new Command("pipeline", "A whole node consuming a backlog, against the raw Confluent consumer on the same broker and records.")
        {
            records, partitions, store, passes, warmUp, config, allocations,
        };
        command.SetAction((parse, _) => RunAsync(
            parse.GetValue(records), parse.GetValue(partitions), parse.GetValue(store)!, parse.GetValue(passes), parse.GetValue(warmUp), parse.GetValue(config)?.FullName,
            parse.GetValue(allocations)));
        return command;
    }

    private static async Task<int> RunAsync(long records, int partitions, string store, int passes, double warmUp, string? configFile, int allocationTypes)
    {
        var dir = Directory.CreateTempSubdirectory("mc-pipeline-").FullName;
        var database = $"mc_pipeline_{Guid.NewGuid():N}";
        try
        {
            using var broker = EmbeddedKafka.Start();
            broker.SetGroupInitialRebalanceDelay(TimeSpan.Zero);
            ProductTopics.Create(broker, partitions);
            Console.WriteLine($"broker {broker.BootstrapServers}, {records:N0} records, {partitions} partitions, store {store}, "
                + $"server GC {System.Runtime.GCSettings.IsServerGC}, {Environment.ProcessorCount} cores");

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
            var raws = Enumerable.Range(0, passes)
                .Select(pass => KafkaRawBenchmark.RawConsume(broker.BootstrapServers, ProductTopics.Input, available, $"bench-raw-{pass}").TotalSeconds)
                .Order().ToList();
            var rawSeconds = raws[raws.Count / 2];
            Console.WriteLine($"raw passes: {string.Join(", ", raws.Select(r => $"{available / r:N0}/s"))}");

            var connection = store == "postgresql" ? await CreateDatabaseAsync(database) : $"Data Source={Path.Combine(dir, "metrics.db")}";
            var settings = CollectorSettings.Load(configFile, new Hashtable
            {
                ["MC_KAFKA_BOOTSTRAP"] = broker.BootstrapServers,
                ["MC_WINDOW_SIZE"] = "60s", ["MC_WINDOW_SLIDE"] = "10s",
                ["MC_MAX_OUT_OF_ORDERNESS"] = "5s", ["MC_ALLOWED_LATENESS"] = "5s", ["MC_IDLE_TIMEOUT"] = "30s",
                ["MC_STORE"] = store, ["MC_STORE_CONNECTION"] = connection,
                ["MC_HTTP_PORT"] = "0", ["MC_CLUSTER_PORT"] = "0", ["MC_GENERATOR"] = "off",
            });
            using var sampler = allocationTypes > 0 ? new AllocationSampler() : null;
            var clock = Stopwatch.StartNew();
            await using var app = NodeHost.Build(settings, broker.BootstrapServers);
            await app.StartAsync();
            var metrics = app.Services.GetRequiredService<CollectorMetrics>();
            await Until(() => metrics.EventsApplied >= available * warmUp, clock);
            var from = Sample.Take(clock, metrics);
            sampler?.Start();
            var ingested = await Until(() => metrics.RecordsIn >= available, clock);
            var expectedApplied = metrics.EventsIn - metrics.TooLate;
            await Until(() => metrics.EventsApplied >= expectedApplied, clock);
            var to = Sample.Take(clock, metrics);
            sampler?.Stop();
            // Before the stop, which snapshots every device once more.
            var (snapshots, snapshotBytes) = (metrics.Snapshots, metrics.SnapshotBytes);
            await app.StopAsync();

            var seconds = (to.Wall - from.Wall).TotalSeconds;
            var events = to.Applied - from.Applied;
            var rate = events / seconds;
            var rawRate = available / rawSeconds;
            Console.WriteLine();
            Console.WriteLine("| path | records | seconds | per second | vs raw |");
            Console.WriteLine("|---|---:|---:|---:|---:|");
            Console.WriteLine($"| raw Confluent consumer, no processing (median of {passes}) | {available:N0} | {rawSeconds:0.00} | {rawRate:N0} | 100 % |");
            Console.WriteLine($"| node: records decoded and dispatched, from start | {available:N0} | {ingested.TotalSeconds:0.00} | {available / ingested.TotalSeconds:N0} | {available / ingested.TotalSeconds / rawRate:P0} |");
            Console.WriteLine($"| node: events applied by devices, after the warm-up | {events:N0} | {seconds:0.00} | {rate:N0} | {rate / rawRate:P0} |");
            Console.WriteLine();
            var cpu = (to.ProcessCpu - from.ProcessCpu).TotalSeconds;
            Console.WriteLine($"cores busy on average: {cpu / seconds:0.00}; CPU per event: {cpu / events * 1e6:0.0} µs; allocated per event: {(to.Allocated - from.Allocated) / (double)events:N0} B");
            Console.WriteLine($"GCs per 1,000 events: gen0 {(to.Gen0 - from.Gen0) * 1000.0 / events:0.00}, gen1 {(to.Gen1 - from.Gen1) * 1000.0 / events:0.00}, gen2 {(to.Gen2 - from.Gen2) * 1000.0 / events:0.000}; "
                + $"time paused in GC: {(to.Paused - from.Paused).TotalSeconds / seconds:P1} of wall time");
            Console.WriteLine();
            Console.WriteLine("| stage | CPU µs per event | share of CPU |");
            Console.WriteLine("|---|---:|---:|");
            var stages = Stages(from, to);
            foreach (var (stage, stageSeconds) in stages)
                Console.WriteLine($"| {stage} | {stageSeconds / events * 1e6:0.00} | {stageSeconds / cpu:P0} |");
            Console.WriteLine();
            Console.WriteLine($"windows fired {metrics.WindowsFired:N0}, rows written {metrics.RowsWritten:N0}");
            Console.WriteLine($"snapshots until applied: {snapshots:N0} in {to.Wall.TotalSeconds:0.0} s, {snapshots / to.Wall.TotalSeconds:N0}/s, "
                + $"{snapshotBytes / Math.Max(1, snapshots):N0} B each");
            Console.WriteLine($"fire → stored: p50 {metrics.FireToStore(0.5)} ms, p99 {metrics.FireToStore(0.99)} ms, max {metrics.FireToStore(1.0)} ms");
            if (sampler is not null)
            {
                var perEvent = (to.Allocated - from.Allocated) / (double)events;
                Console.WriteLine();
                Console.WriteLine("| allocated type (sampled) | B per event | share |");
                Console.WriteLine("|---|---:|---:|");
                foreach (var (type, share) in sampler.Shares().Take(allocationTypes))
                    Console.WriteLine($"| `{type}` | {share * perEvent:0} | {share:P1} |");
            }

            return 0;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
            if (store == "postgresql") await DropDatabaseAsync(database);
        }
    }

    /// <summary>
    /// CPU seconds between two samples by stage. Actors are timed while they handle messages; threads of our
    /// own and of librdkafka by what the kernel counts for them; the rest (sharding's routing, the persistence
    /// plugins, the store clients, Akka itself) is what the process used beyond those.
    /// </summary>
    private static List<(string Stage, double Seconds)> Stages(Sample from, Sample to)
    {
        var stages = new List<(string, double)>
        {
            ("Kafka consumer loop (its thread)", to.Threads("kafka-consumer") - from.Threads("kafka-consumer")),
            ("librdkafka threads (the client and the embedded broker)", to.Threads("rdk:") - from.Threads("rdk:")),
            ("partition actors (judging, delivery, commits)", (to.Busy[BusyActor.Partition] - from.Busy[BusyActor.Partition]).TotalSeconds),
            ("device actors (windows and digests, snapshots asked)", (to.Busy[BusyActor.Device] - from.Busy[BusyActor.Device]).TotalSeconds),
            ("result writer actor", (to.Busy[BusyActor.ResultWriter] - from.Busy[BusyActor.ResultWriter]).TotalSeconds),
            ("GC threads", to.Threads(".NET Server GC") + to.Threads(".NET BGC") - from.Threads(".NET Server GC") - from.Threads(".NET BGC")),
        };
        var accounted = stages.Sum(s => s.Item2);
        stages.Add(("the rest: shard routing, persistence plugins, SQL clients, Akka, stream stages", (to.ProcessCpu - from.ProcessCpu).TotalSeconds - accounted));
        return stages;
    }

    private sealed record Sample(
        TimeSpan Wall, long Applied, TimeSpan ProcessCpu, IReadOnlyDictionary<string, double> ThreadCpu,
        IReadOnlyDictionary<BusyActor, TimeSpan> Busy, long Allocated, int Gen0, int Gen1, int Gen2, TimeSpan Paused)
    {
        public static Sample Take(Stopwatch clock, CollectorMetrics metrics) => new(
            clock.Elapsed,
            metrics.EventsApplied,
            Process.GetCurrentProcess().TotalProcessorTime,
            ThreadCpuByName(),
            Enum.GetValues<BusyActor>().ToDictionary(a => a, metrics.Busy),
            GC.GetTotalAllocatedBytes(precise: false),
            GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2),
            GC.GetTotalPauseDuration());

        /// <summary>CPU seconds of the live threads whose name starts with <paramref name="prefix"/>.</summary>
        public double Threads(string prefix) => ThreadCpu.Where(t => t.Key.StartsWith(prefix, StringComparison.Ordinal)).Sum(t => t.Value);

        /// <summary>CPU seconds per thread (tid:name) from /proc: utime + stime, in clock ticks of 1/100 s.</summary>
        private static Dictionary<string, double> ThreadCpuByName()
        {
            var threads = new Dictionary<string, double>();
            foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
            {
                try
                {
                    var stat = File.ReadAllText(Path.Combine(task, "stat"));
                    var name = stat[(stat.IndexOf('(', StringComparison.Ordinal) + 1)..stat.LastIndexOf(')')];
                    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                    var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
                    threads[$"{name} {Path.GetFileName(task)}"] = ticks / 100.0;
                }
                catch (IOException)
                {
                    // The thread ended while it was being read.
                }
            }
            return threads;
        }
    }

    private static string AdminConnection() =>
        Environment.GetEnvironmentVariable("MC_TEST_PG") ?? "Host=127.0.0.1;Port=5433;Username=postgres;Database=postgres";

    private static async Task<string> CreateDatabaseAsync(string database)
    {
        await using (var admin = new NpgsqlConnection(AdminConnection()))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {database}", admin);
            await create.ExecuteNonQueryAsync();
        }
        return new NpgsqlConnectionStringBuilder(AdminConnection()) { Database = database }.ConnectionString;
    }

    private static async Task DropDatabaseAsync(string database)
    {
        NpgsqlConnection.ClearAllPools();
        await using var admin = new NpgsqlConnection(AdminConnection());
        await admin.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {database} WITH (FORCE)", admin);
        await drop.ExecuteNonQueryAsync();
    }

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
