using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using MetricsCollector.Benchmarks;
using MetricsCollector.Kafka;
using MetricsCollector.Tests.Support;
using MetricsCollector.Tests.Support.Processes;
using Npgsql;

/// <summary>
/// Clusters of `metrics-collector` processes on a standalone `metrics-collector kafka` broker and
/// PostgreSQL (the server MC_TEST_PG names; `deploy/local-postgres.sh` starts one), the way the
/// multi-process tests run them:
/// <list type="bullet">
/// <item>`cluster-recovery [runs]`: three nodes (with the product's snapshot settings) under a paced stream; each run kills one node
/// with SIGKILL and times how long until every partition it consumed is consuming again on a
/// survivor, then restarts it.</item>
/// <item>`cluster-throughput [records] [sizes] [--warm-up N]`: for 1, 2 and 3 nodes (or the comma-separated
/// sizes given), a backlog produced at once into a balanced cluster, and the events applied per
/// second until all are; first a warm-up backlog of N records, not measured.</item>
/// </list>
/// </summary>
internal static class ClusterBenchmark
{
    private const int Devices = 2_000;

    public static Command RecoveryCommand()
    {
        var runs = Arguments.Positive("runs", 5, "Kills, one per run.");
        var command = new Command("cluster-recovery", "Three node processes; each run kills one with SIGKILL and times until its partitions consume again on a survivor.") { runs };
        command.SetAction((parse, _) => RecoveryAsync(parse.GetValue(runs)));
        return command;
    }

    public static Command ThroughputCommand()
    {
        var records = Arguments.Positive("records", 300_000, "Records of the backlog each cluster consumes.");
        var sizes = Arguments.CommaSeparated("sizes", [1, 2, 3], "Cluster sizes, in node processes.");
        var warmUp = new Option<int>("--warm-up")
        {
            Description = "Records consumed before the measured backlog, so that each node's JIT and first connections are behind it (0: none).",
            DefaultValueFactory = _ => 100_000,
        };
        var command = new Command("cluster-throughput", "Events applied per second by clusters of node processes, one size after the other.") { records, sizes, warmUp };
        command.SetAction((parse, _) => ThroughputAsync(parse.GetValue(records), parse.GetValue(sizes)!, Math.Max(0, parse.GetValue(warmUp))));
        return command;
    }

    private static async Task<int> RecoveryAsync(int runs)
    {
        await using var setup = await Setup.StartAsync();
        // The product's snapshot settings (every 15 s), not the tests' 500 ms: two thousand devices
        // snapshotting twice a second would load the two cores far beyond what a deployment sees.
        await using var cluster = new ProcessCluster(setup.Broker.BootstrapServers, setup.Database, setup.Dir, hocon: "");
        await cluster.StartAsync(3);
        var events = runs * 60 * 2_000;
        var producing = TestDataset.ProduceAsync(setup.Broker.BootstrapServers, ProductTopics.Input, seed: 5, Devices, events,
            10_000, 5_000, 5_000, perSecond: 2_000, startMs: DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - events * 20L - 600_000);

        var times = new List<double>();
        Console.WriteLine("| run | killed | partitions consuming again on a survivor after |");
        Console.WriteLine("|---:|---|---:|");
        for (var run = 1; run <= runs; run++)
        {
            // Balanced twice over: a restarted node's join can start one more rebalance a moment later.
            await cluster.WaitUntilBalancedAsync(ProductTopics.DefaultPartitions, TimeSpan.FromSeconds(90));
            await Task.Delay(TimeSpan.FromSeconds(5));
            await cluster.WaitUntilBalancedAsync(ProductTopics.DefaultPartitions, TimeSpan.FromSeconds(90));
            var victim = cluster.Nodes[run % 3];
            var elapsed = await cluster.KillAndAwaitTakeOverAsync(victim, TimeSpan.FromSeconds(90));
            times.Add(elapsed.TotalSeconds);
            Console.WriteLine($"| {run} | {victim.Name} | {ProcessCluster.Format(elapsed)} |");
            await victim.StartAsync();
        }
        times.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"p50 {times[times.Count / 2]:0.0} s, max {times[^1]:0.0} s over {times.Count} kills (producing done: {producing.IsCompleted})"));
        return 0;
    }

    private static async Task<int> ThroughputAsync(int records, int[] sizes, int warmUp)
    {
        // CPU is summed over the node processes from the moment the backlog is produced until every
        // valid event is applied: flat CPU seconds per million events across sizes means the work
        // does not grow with the cluster, so more machines add throughput (here they share two cores).
        // A fresh node process spends its first seconds compiling (a quarter of the nodes' CPU in a
        // profile of a cold 150,000-record run on two nodes), once per process: the warm-up keeps
        // that out of the comparison.
        Console.WriteLine("| nodes | records | valid events | seconds | events applied/s | node CPU s | CPU s per million events | per node |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var nodes in sizes)
        {
            await using var setup = await Setup.StartAsync();
            // Two or three nodes on these two cores starve each other's heartbeats for seconds, and the
            // split-brain resolver downed them at the product's 3 s pause; this measures work, not recovery.
            // Both backlogs lie ahead of the wall clock (below), the second after the first: further than
            // the product's 1 h future-skew guard allows.
            await using var cluster = new ProcessCluster(setup.Broker.BootstrapServers, setup.Database, setup.Dir,
                hocon: NodeEnvironment.TestHocon + "\nakka.cluster.failure-detector.acceptable-heartbeat-pause = 15s\nmetrics-collector.windows.max-future-skew = 1d\n");
            await cluster.StartAsync(nodes);
            await cluster.WaitUntilBalancedAsync(ProductTopics.DefaultPartitions, TimeSpan.FromSeconds(90));

            // Event times from now on: the balanced cluster's idle partitions have moved their
            // watermarks to the wall clock, and none of these may be too late for that reason. The
            // generator's clock moves at most 40 ms an event, so the second backlog starts past the first.
            var start = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            var before = (Consumed: 0L, Valid: 0L);
            if (warmUp > 0)
            {
                await TestDataset.ProduceAsync(setup.Broker.BootstrapServers, ProductTopics.Input, seed: 8, Devices, warmUp,
                    10_000, 5_000, 5_000, startMs: start);
                before = await UntilAppliedAsync(cluster, warmUp, Stopwatch.StartNew());
                start += warmUp * 40L;
            }

            var cpuBefore = cluster.Nodes.Select(n => n.CpuTime).ToArray();
            var clock = Stopwatch.StartNew();
            await TestDataset.ProduceAsync(setup.Broker.BootstrapServers, ProductTopics.Input, seed: 9, Devices, records,
                10_000, 5_000, 5_000, startMs: start);
            var valid = (await UntilAppliedAsync(cluster, before.Consumed + records, clock)).Valid - before.Valid;
            var seconds = clock.Elapsed.TotalSeconds;
            var cpu = cluster.Nodes.Select((n, i) => (n.CpuTime - cpuBefore[i]).TotalSeconds).ToArray();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {nodes} | {records:N0} | {valid:N0} | {seconds:0.0} | {valid / seconds:N0} | {cpu.Sum():0.0} | {cpu.Sum() / (valid / 1e6):0.0} | {string.Join(" + ", cpu.Select(c => c.ToString("0.0", CultureInfo.InvariantCulture)))} |"));
        }
        return 0;
    }

    /// <summary>Waits (10 minutes at most) until the cluster consumed <paramref name="records"/> in all and applied every valid event; returns both counts.</summary>
    private static async Task<(long Consumed, long Valid)> UntilAppliedAsync(ProcessCluster cluster, long records, Stopwatch clock)
    {
        var (consumed, valid) = (0L, 0L);
        while (clock.Elapsed < TimeSpan.FromMinutes(10))
        {
            var counters = await Task.WhenAll(cluster.Running.Select(n => CountersAsync(n)));
            valid = counters.Sum(c => c.EventsIn - c.TooLate);
            consumed = counters.Sum(c => c.RecordsIn);
            if (consumed >= records && counters.Sum(c => c.Applied) >= valid) break;
            await Task.Delay(200);
        }
        return (consumed, valid);
    }

    private static async Task<(long RecordsIn, long EventsIn, long TooLate, long Applied)> CountersAsync(NodeProcess node)
    {
        var text = await node.Http.GetStringAsync("/metrics");
        long Value(string name) =>
            // The OTel exporter writes a series without labels as name{}.
            text.Split('\n').Where(l => l.StartsWith(name + " ", StringComparison.Ordinal) || l.StartsWith(name + "{} ", StringComparison.Ordinal))
                .Select(l => long.Parse(l[(l.IndexOf(' ') + 1)..], CultureInfo.InvariantCulture)).FirstOrDefault();
        return (Value("mc_records_in_total"), Value("mc_events_in_total"), Value("mc_too_late_total"), Value("mc_events_applied_total"));
    }

    /// <summary>A broker process, a fresh database on the PostgreSQL server, and a working folder; all removed afterwards.</summary>
    private sealed class Setup : IAsyncDisposable
    {
        private readonly string _server;
        private readonly string _name;

        private Setup(BrokerProcess broker, string server, string name, string dir)
        {
            Broker = broker;
            _server = server;
            _name = name;
            Dir = dir;
        }

        public BrokerProcess Broker { get; }

        public string Dir { get; }

        public string Database => new NpgsqlConnectionStringBuilder(_server) { Database = _name }.ToString();

        public static async Task<Setup> StartAsync()
        {
            var server = Environment.GetEnvironmentVariable("MC_TEST_PG") is { Length: > 0 } value
                ? value
                : throw new InvalidOperationException("set MC_TEST_PG: bash deploy/local-postgres.sh start && eval \"$(bash deploy/local-postgres.sh env)\"");
            var name = $"mc_bench_{Guid.NewGuid():N}";
            await ExecuteAsync(server, $"CREATE DATABASE {name}");
            var dir = Directory.CreateTempSubdirectory("mc-cluster-bench-").FullName;
            return new Setup(await BrokerProcess.StartAsync(dir), server, name, dir);
        }

        public async ValueTask DisposeAsync()
        {
            Broker.Dispose();
            await ExecuteAsync(_server, $"DROP DATABASE IF EXISTS {_name} WITH (FORCE)");
            // As in the tests, MC_TEST_KEEP_LOGS=1 keeps the nodes' logs for a post-mortem.
            if (Environment.GetEnvironmentVariable("MC_TEST_KEEP_LOGS") == "1") Console.WriteLine($"logs kept in {Dir}");
            else Directory.Delete(Dir, recursive: true);
        }

        private static async Task ExecuteAsync(string server, string sql)
        {
            await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(server) { Pooling = false }.ToString());
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync();
        }
    }
}
