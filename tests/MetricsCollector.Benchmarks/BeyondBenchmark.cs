using System.Collections;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using MetricsCollector.Api;
using MetricsCollector.Configuration;
using MetricsCollector.Core.Digests;
using MetricsCollector.Core.Windows;
using MetricsCollector.Ingest;
using MetricsCollector.Kafka;
using MetricsCollector.ReadSide;
using MetricsCollector.Testing;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MetricsCollector.Benchmarks;

/// <summary>
/// What the results topic and the fleet route cost (docs/benchmarks.md), on SQLite and on PostgreSQL (the
/// server MC_TEST_PG names, a database of its own):
/// <list type="bullet">
/// <item>`results-topic [rows]`: per row, the outbox note in the upsert's transaction (upserts with it on minus
/// with it off), producing to the embedded broker as the node's producer does (batches of 1,000, each awaited),
/// and clearing the note once delivered.</item>
/// <item>`fleet [devices]`: one window of that many devices, each with a digest of 30 readings (one a minute in
/// a 30-minute window) or of 1,800 (one a second): the merge of every part (what a window costs once), and a
/// cached answer of <see cref="FleetCache"/> (what a request costs after that).</item>
/// </list>
/// </summary>
internal static class BeyondBenchmark
{
    private const int Batch = 1_000;
    private const long Slide = 60_000;
    private const long End = 1_764_307_800_000;
    private static readonly string[] SqliteFiles = ["", "-wal", "-shm"];

    public static Command ResultsTopicCommand()
    {
        var rows = Arguments.Positive("rows", 20_000, "Rows upserted and produced.");
        var command = new Command("results-topic", "What producing every row to the results topic costs per row.") { rows };
        command.SetAction((parse, _) => ResultsTopicAsync(parse.GetValue(rows)));
        return command;
    }

    public static Command FleetCommand()
    {
        var devices = Arguments.Positive("devices", 10_000, "Devices in the window.");
        var command = new Command("fleet", "/metrics/fleet: a window's merge, and a cached answer.") { devices };
        command.SetAction((parse, _) => FleetAsync(parse.GetValue(devices)));
        return command;
    }

    private static async Task<int> ResultsTopicAsync(int rows)
    {
        var parts = Rows(rows).Select(r => SinglePart.Of(r)).ToArray();
        using var broker = EmbeddedKafka.Start();
        ProductTopics.Create(broker);
        Console.WriteLine($"{rows:N0} rows in batches of {Batch:N0}, µs per row, median of 5 rounds");
        Console.WriteLine();
        Console.WriteLine("| store | upsert, outbox off | upsert, outbox on | outbox note | produce (embedded broker) | clear note | results topic in all |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var kind in new[] { "sqlite", "postgresql" })
        {
            // The median of 5 rounds, each on fresh stores, after one round to warm up.
            var rounds = new List<(TimeSpan Off, TimeSpan On, TimeSpan Produce, TimeSpan Clear)>();
            for (var round = 0; round < 6; round++)
            {
                await using var off = await StoreAsync(kind, outbox: false);
                await using var on = await StoreAsync(kind, outbox: true);
                rounds.Add((
                    await TimeAsync(parts, batch => off.Store.UpsertAsync(batch)),
                    await TimeAsync(parts, batch => on.Store.UpsertAsync(batch)),
                    await ProduceAsync(broker, parts.Select(p => p.Row).ToArray()),
                    await TimeAsync(parts.Select(p => p.Row).ToArray(), batch => on.Store.ResultsProducedAsync(batch))));
            }

            rounds.RemoveAt(0);
            var upsertOff = Median(rounds.Select(r => r.Off));
            var upsertOn = Median(rounds.Select(r => r.On));
            var produce = Median(rounds.Select(r => r.Produce));
            var clear = Median(rounds.Select(r => r.Clear));
            var note = Median(rounds.Select(r => r.On - r.Off));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {kind} | {PerRow(upsertOff, rows):0.0} | {PerRow(upsertOn, rows):0.0} | {PerRow(note, rows):0.0} | {PerRow(produce, rows):0.0} | {PerRow(clear, rows):0.0} | {PerRow(note + produce + clear, rows):0.0} |"));
        }

        return 0;
    }

    private static async Task<int> FleetAsync(int devices)
    {
        Console.WriteLine($"one window of {devices:N0} devices; compute: median of 10 merges; cached: 100,000 answers in-process, then 5,000 GET /metrics/fleet one after another over loopback HTTP");
        Console.WriteLine();
        Console.WriteLine("| store | readings per device and window | compute ms per window | cached answer p50 µs | p99 µs | GET /metrics/fleet p50 µs | p99 µs |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var kind in new[] { "sqlite", "postgresql" })
        {
            foreach (var readings in new[] { 30, 1_800 })
            {
                await using var store = await StoreAsync(kind, outbox: false);
                var parts = Parts(devices, readings);
                foreach (var chunk in parts.Chunk(Batch)) await store.Store.UpsertAsync(chunk);

                var computes = new List<double>();
                for (var i = 0; i < 10; i++)
                {
                    var watch = Stopwatch.StartNew();
                    var fleet = await store.Store.FleetAsync(End) ?? throw new InvalidOperationException("no fleet figures");
                    computes.Add(watch.Elapsed.TotalMilliseconds);
                    if (fleet.Devices != devices) throw new InvalidOperationException($"{fleet.Devices} devices, expected {devices}");
                }

                var cache = Cache(store.Store, parts[0].Row);
                await cache.GetAsync(null, null, default);
                var answers = new double[100_000];
                for (var i = 0; i < answers.Length; i++)
                {
                    var start = Stopwatch.GetTimestamp();
                    await cache.GetAsync(null, null, default);
                    answers[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
                }

                Array.Sort(answers);
                computes.Sort();
                var http = await HttpLatenciesAsync(store.Store, cache, parts[0].Row);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {kind} | {readings:N0} | {computes[computes.Count / 2]:0.0} | {answers[answers.Length / 2]:0.0} | {answers[answers.Length * 99 / 100]:0.0} | {http[http.Length / 2]:0} | {http[http.Length * 99 / 100]:0} |"));
            }
        }

        return 0;
    }

    /// <summary>Sequential requests over loopback after 500 to warm up: what one client waits per answer, sorted, in µs.</summary>
    private static async Task<double[]> HttpLatenciesAsync(IResultStore store, FleetCache cache, WindowResult latest)
    {
        await using var app = await HttpLoad.StartApiAsync(store, new LatestWindow(latest), services => services.AddSingleton(cache));
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        using var client = new HttpClient { BaseAddress = new Uri(address) };
        var latencies = new double[5_000];
        for (var i = -500; i < latencies.Length; i++)
        {
            var start = Stopwatch.GetTimestamp();
            using var answer = await client.GetAsync(new Uri("/metrics/fleet", UriKind.Relative));
            answer.EnsureSuccessStatusCode();
            await answer.Content.ReadAsByteArrayAsync();
            if (i >= 0) latencies[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }

        await app.StopAsync();
        Array.Sort(latencies);
        return latencies;
    }

    /// <summary>The cache as a node wires it, over a top-N holder that names <paramref name="latest"/>'s window.</summary>
    private static FleetCache Cache(IResultStore store, WindowResult latest)
    {
        var settings = CollectorSettings.Load(null, new Hashtable());
        var topic = new InputTopic { Partitions = 10 };
        var finality = new RowFinality(new StoreProgress(store), topic, settings, TimeProvider.System);
        return new FleetCache(store, new LatestWindow(latest), finality, settings);
    }

    private static WindowResult[] Rows(int count) =>
        Enumerable.Range(0, count)
            .Select(i => new WindowResult($"device-{i % 10_000}", 0, End + (i / 10_000 * Slide), 50, 90, 95, 99, 0.5, 99.5, 50, 1_800, 1, false, End, PercentileBounds.Within(0.5, 99.5)))
            .Select(r => r with { WindowStart = r.WindowEnd - 30 * Slide })
            .ToArray();

    private static WindowPart[] Parts(int devices, int readings)
    {
        var random = new Random(5);
        return Enumerable.Range(0, devices).Select(d =>
        {
            var digest = new TDigest();
            for (var i = 0; i < readings; i++) digest.Add(random.Next(0, 10_001) / 100.0);
            var merged = TDigest.MergeAll([digest]);
            return new WindowPart(0, WindowResult.Of($"device-{d}", End - 30 * Slide, End, merged, 1, false, End), merged.ToBytes());
        }).ToArray();
    }

    private static async Task<TimeSpan> TimeAsync<T>(IReadOnlyList<T> items, Func<T[], Task> each)
    {
        var watch = Stopwatch.StartNew();
        foreach (var chunk in items.Chunk(Batch)) await each(chunk);
        return watch.Elapsed;
    }

    private static async Task<TimeSpan> ProduceAsync(EmbeddedKafka broker, WindowResult[] rows)
    {
        using var producer = new ProducerBuilder<byte[], byte[]>(ResultsTopicActor.ProducerConfigOf(new KafkaClients(broker.BootstrapServers))).Build();
        return await TimeAsync(rows, batch => Task.WhenAll(batch.Select(row => producer.ProduceAsync(ProductTopics.Results, new Message<byte[], byte[]>
        {
            Key = System.Text.Encoding.UTF8.GetBytes(ResultsTopicActor.KeyOf(row)),
            Value = ResultsTopicActor.ValueOf(row),
        }))));
    }

    private static TimeSpan Median(IEnumerable<TimeSpan> values) => values.Order().ElementAt(values.Count() / 2);

    private static double PerRow(TimeSpan elapsed, int rows) => elapsed.TotalMicroseconds / rows;

    private static async Task<BenchStore> StoreAsync(string kind, bool outbox)
    {
        if (kind == "sqlite")
        {
            var file = Path.Combine(Path.GetTempPath(), $"mc-beyond-{Guid.NewGuid():N}.db");
            var sqlite = new SqliteResultStore($"Data Source={file}") { KeepsResultsOutbox = outbox };
            await sqlite.EnsureSchemaAsync();
            return new BenchStore(sqlite, () =>
            {
                foreach (var suffix in SqliteFiles) File.Delete(file + suffix);
                return Task.CompletedTask;
            });
        }

        var server = Environment.GetEnvironmentVariable("MC_TEST_PG")
            ?? throw new InvalidOperationException("set MC_TEST_PG: bash deploy/local-postgres.sh start && eval \"$(bash deploy/local-postgres.sh env)\"");
        var database = $"mc_beyond_{Guid.NewGuid():N}";
        await using (var connection = new NpgsqlConnection(server))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {database}", connection);
            await create.ExecuteNonQueryAsync();
        }

        var postgres = new PostgresResultStore(new NpgsqlConnectionStringBuilder(server) { Database = database }.ToString()) { KeepsResultsOutbox = outbox };
        await postgres.EnsureSchemaAsync();
        return new BenchStore(postgres, async () =>
        {
            NpgsqlConnection.ClearAllPools();
            await using var connection = new NpgsqlConnection(server);
            await connection.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE {database} WITH (FORCE)", connection);
            await drop.ExecuteNonQueryAsync();
        });
    }

    private sealed class BenchStore(SqlResultStore store, Func<Task> remove) : IAsyncDisposable
    {
        public SqlResultStore Store { get; } = store;

        public async ValueTask DisposeAsync()
        {
            await Store.DisposeAsync();
            await remove();
        }
    }

    private sealed class LatestWindow(WindowResult row) : ILatestTopN
    {
        public Task<IReadOnlyList<WindowResult>> TopAsync(int n, RankBy by, CancellationToken ct) => Task.FromResult<IReadOnlyList<WindowResult>>([row]);
    }
}
