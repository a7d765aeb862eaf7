using System.Collections;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using MetricsCollector.Configuration;
using Npgsql;

namespace MetricsCollector.Benchmarks;

/// <summary>
/// `snapshots [devices] [sqlite|postgresql] [bytes] [rounds]`: the node's snapshot store, configured as a
/// node configures it, under as many persistent actors as a node has devices. They all start at once
/// (a partition taking its devices), then save a snapshot each at the same moment, several rounds
/// (as a node's devices do when their snapshot interval comes round together), then start again and
/// load what they saved. PostgreSQL runs on the server MC_TEST_PG names, in a database of its own.
/// </summary>
internal static class SnapshotBenchmark
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(5);

    /// <summary>`snapshots [devices] [sqlite|postgresql] [bytes] [rounds]`, positional as docs/benchmarks.md writes it.</summary>
    public static Command Command()
    {
        var devices = Arguments.Positive("devices", 10_000, "Device-like persistent actors saving at once.");
        var provider = new Argument<string>("store") { Description = "The snapshot store's database; postgresql takes the server MC_TEST_PG names.", DefaultValueFactory = _ => "sqlite", Arity = ArgumentArity.ZeroOrOne }
            .AcceptOnlyFromAmong("sqlite", "postgresql");
        // 4.4 KB: a device's snapshot with 30m/1m windows ("Memory per device and snapshot size").
        var bytes = Arguments.Positive("bytes", 4_400, "Bytes of each snapshot.");
        var rounds = Arguments.Positive("rounds", 5, "Rounds of saves, every device once a round.");
        var command = new Command("snapshots", "Snapshot saves and loads per second with the node's snapshot store.") { devices, provider, bytes, rounds };
        command.SetAction((parse, _) => RunAsync(parse.GetValue(devices), parse.GetValue(provider)!, parse.GetValue(bytes), parse.GetValue(rounds)));
        return command;
    }

    private static async Task<int> RunAsync(int devices, string provider, int bytes, int rounds)
    {
        await using var database = await BenchDatabase.CreateAsync(provider);
        var settings = CollectorSettings.Load(null, new Hashtable { ["MC_STORE"] = provider, ["MC_STORE_CONNECTION"] = database.ConnectionString });
        var persistence = AkkaConfiguration.For(settings).GetValue("akka.persistence").AtKey("persistence").Root.AtKey("akka");
        var config = ConfigurationFactory.ParseString("akka.loglevel = WARNING").WithFallback(persistence);
        Console.WriteLine($"{devices:N0} devices, {provider}, {bytes:N0} B snapshots, batches of at most {settings.SnapshotStore.BatchSize} (delay {settings.SnapshotStore.BatchDelay.TotalMilliseconds} ms), server GC {System.Runtime.GCSettings.IsServerGC}");

        var payload = new byte[bytes];
        new Random(7).NextBytes(payload);
        var system = ActorSystem.Create("snapshots", config);
        var fleet = await Fleet.StartAsync(system, devices, payload, "start, nothing stored");
        var rates = new List<double>();
        for (var round = 1; round <= rounds; round++)
        {
            rates.Add(await fleet.SaveAllAsync($"save round {round}"));
        }
        await system.Terminate();
        rates.Sort();
        Console.WriteLine($"saves: median {rates[rates.Count / 2]:N0} snapshots/s over {rounds} rounds (min {rates[0]:N0}, max {rates[^1]:N0})");

        system = ActorSystem.Create("snapshots", config);
        await Fleet.StartAsync(system, devices, payload, "start, every snapshot stored");
        await system.Terminate();
        return 0;
    }

    private sealed class Fleet
    {
        private readonly IActorRef[] _devices;
        private Counter _counter;

        private Fleet(IActorRef[] devices, Counter counter)
        {
            _devices = devices;
            _counter = counter;
        }

        public static async Task<Fleet> StartAsync(ActorSystem system, int devices, byte[] payload, string what)
        {
            // Akka starts its scheduler on first use, on a pool thread, while its callers block waiting for it. In
            // a node, cluster timers start it long before any device; here 1,000 recovering actors would be its
            // first users, block every pool thread and stall for tens of seconds until the pool had grown enough.
            system.Scheduler.Advanced.ScheduleOnce(TimeSpan.Zero, () => { });
            var counter = new Counter(devices);
            var clock = Stopwatch.StartNew();
            var refs = new IActorRef[devices];
            var fleet = new Fleet(refs, counter);
            for (var i = 0; i < devices; i++) refs[i] = system.ActorOf(Props.Create(() => new Device($"device-{i}", payload, fleet)), $"device-{i}");
            await counter.Done.WaitAsync(Patience);
            Report(what, "recoveries", devices, clock.Elapsed, counter);
            return fleet;
        }

        public async Task<double> SaveAllAsync(string what)
        {
            var counter = _counter = new Counter(_devices.Length);
            var clock = Stopwatch.StartNew();
            foreach (var device in _devices) device.Tell(Device.Save.Instance);
            await counter.Done.WaitAsync(Patience);
            return Report(what, "snapshots", _devices.Length, clock.Elapsed, counter);
        }

        public void Answered(bool ok) => _counter.Answered(ok);

        private static double Report(string what, string unit, int count, TimeSpan elapsed, Counter counter)
        {
            var rate = count / elapsed.TotalSeconds;
            Console.WriteLine($"{what}: {count:N0} {unit} in {elapsed.TotalSeconds:0.00} s = {rate:N0}/s{(counter.Failed > 0 ? $", {counter.Failed} FAILED" : "")}");
            return rate;
        }
    }

    private sealed class Counter(int expected)
    {
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _answered;
        private int _failed;

        public Task Done => _done.Task;

        public int Failed => _failed;

        public void Answered(bool ok)
        {
            if (!ok) Interlocked.Increment(ref _failed);
            if (Interlocked.Increment(ref _answered) == expected) _done.SetResult();
        }
    }

    /// <summary>A device as the store sees it: recovers from its latest snapshot, saves at sequence number 0.</summary>
    private sealed class Device : ReceivePersistentActor
    {
        public Device(string persistenceId, byte[] payload, Fleet fleet)
        {
            PersistenceId = persistenceId;
            Recover<SnapshotOffer>(_ => { });
            Recover<RecoveryCompleted>(_ => fleet.Answered(true));
            Command<Save>(_ => SaveSnapshot(payload));
            Command<SaveSnapshotSuccess>(_ => fleet.Answered(true));
            Command<SaveSnapshotFailure>(_ => fleet.Answered(false));
        }

        public override string PersistenceId { get; }

        protected override void OnRecoveryFailure(Exception reason, object? message = null)
        {
            Console.WriteLine($"{PersistenceId}: recovery failed: {reason.Message}");
            base.OnRecoveryFailure(reason, message);
        }

        public sealed class Save
        {
            public static readonly Save Instance = new();
        }
    }

    /// <summary>A throw-away SQLite file or PostgreSQL database.</summary>
    private sealed class BenchDatabase : IAsyncDisposable
    {
        private readonly string? _path;
        private readonly string? _server;
        private readonly string _database = $"mc_bench_snapshots_{Guid.NewGuid():N}";

        private BenchDatabase(string? path, string? server)
        {
            _path = path;
            _server = server;
        }

        public string ConnectionString => _server is null
            ? $"Data Source={_path}"
            : new NpgsqlConnectionStringBuilder(_server) { Database = _database }.ToString();

        public static async Task<BenchDatabase> CreateAsync(string provider)
        {
            if (provider == "sqlite") return new BenchDatabase(Path.Combine(Path.GetTempPath(), $"mc-bench-snapshots-{Guid.NewGuid():N}.db"), null);
            var server = Environment.GetEnvironmentVariable("MC_TEST_PG") is { Length: > 0 } value
                ? value
                : throw new InvalidOperationException("set MC_TEST_PG to a PostgreSQL server: eval \"$(bash deploy/local-postgres.sh env)\"");
            var database = new BenchDatabase(null, server);
            await database.OnServerAsync($"CREATE DATABASE {database._database}");
            return database;
        }

        public async ValueTask DisposeAsync()
        {
            if (_path is not null)
            {
                Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                foreach (var suffix in new[] { "", "-wal", "-shm" }) File.Delete(_path + suffix);
                return;
            }
            NpgsqlConnection.ClearAllPools();
            await OnServerAsync($"DROP DATABASE IF EXISTS {_database} WITH (FORCE)");
        }

        private async Task OnServerAsync(string sql)
        {
            await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(_server) { Pooling = false }.ToString());
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync();
        }
    }
}
