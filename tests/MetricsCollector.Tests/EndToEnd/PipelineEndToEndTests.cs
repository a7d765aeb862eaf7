using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using MetricsCollector.Hosting;
using MetricsCollector.Kafka;
using MetricsCollector.Observability;
using MetricsCollector.Partitions;
using MetricsCollector.ReadSide;
using MetricsCollector.Tests.ReadSide;
using MetricsCollector.Tests.Support;
using MetricsCollector.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MetricsCollector.Tests.EndToEnd;

/// <summary>
/// The whole pipeline on one node, through the real Kafka protocol (embedded broker), the real
/// store (SQLite, then PostgreSQL) and real HTTP: every row the API serves is compared with the
/// exact oracle fed with what the input topic holds, and the side topics with the records the
/// oracle expects there.
/// </summary>
public abstract class PipelineEndToEndTests : IAsyncLifetime
{
    internal const long Size = 60_000, Slide = 10_000, Bound = 5_000, Lateness = 5_000;
    private const int Devices = 30;

    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();

    protected string Dir { get; } = Directory.CreateTempSubdirectory("mc-e2e-").FullName;

    /// <summary>The store every node of a test shares: (MC_STORE, MC_STORE_CONNECTION), fresh for each test.</summary>
    protected abstract (string Store, string Connection) Store { get; }

    public virtual Task InitializeAsync()
    {
        ProductTopics.Create(_kafka);
        return Task.CompletedTask;
    }

    public virtual Task DisposeAsync()
    {
        _kafka.Dispose();
        Directory.Delete(Dir, recursive: true);
        return Task.CompletedTask;
    }

    private Task<TestNode> StartNodeAsync(EmbeddedKafka? kafka = null, IDictionary<string, string>? environment = null, IHostedServiceRegistration? extra = null) =>
        TestNode.StartAsync((kafka ?? _kafka).BootstrapServers, Store.Store, Store.Connection, Dir, environment, extras: extra is null ? null : [extra]);

    [Fact]
    public async Task Every_row_served_matches_the_exact_oracle_and_side_topics_hold_exactly_their_records()
    {
        await TestDataset.ProduceAsync(_kafka.BootstrapServers, ProductTopics.Input, seed: 11, Devices, events: 20_000, Slide, Bound, Lateness);
        var oracle = KafkaOracle.Read(_kafka.BootstrapServers, ProductTopics.Input, Size, Slide, Lateness, Bound);

        await AssertANodeServesAsync(oracle);
    }

    [Fact]
    public async Task Unkeyed_records_of_one_device_spread_over_partitions_count_once_each_in_one_row()
    {
        await TestDataset.ProduceAsync(_kafka.BootstrapServers, ProductTopics.Input, seed: 13, Devices, events: 20_000, Slide, Bound, Lateness,
            unkeyedOver: ProductTopics.DefaultPartitions);
        var oracle = KafkaOracle.Read(_kafka.BootstrapServers, ProductTopics.Input, Size, Slide, Lateness, Bound);
        // Otherwise the test would prove nothing: most windows must hold records of several partitions.
        Assert.True(oracle.Windows.Windows.Values.Count(w => w.Partitions > 1) > oracle.Windows.Windows.Count / 2);

        await AssertANodeServesAsync(oracle);
    }

    [Fact]
    public async Task A_consumer_that_fails_on_an_assignment_is_replaced_and_the_result_still_equals_the_oracle()
    {
        await TestDataset.ProduceAsync(_kafka.BootstrapServers, ProductTopics.Input, seed: 17, Devices, events: 20_000, Slide, Bound, Lateness);
        var oracle = KafkaOracle.Read(_kafka.BootstrapServers, ProductTopics.Input, Size, Slide, Lateness, Bound);
        var failing = new CheckpointsFailingAtFirst(loads: 1);

        await using var node = await StartNodeAsync(extra: failing);
        await WaitForAllFinalAsync(node, oracle.Windows, TimeSpan.FromSeconds(90));
        await AssertRowsMatchAsync(node.Http, oracle.Windows);
        AssertSideTopics(oracle);
        Assert.Equal(1, failing.Failed);
    }

    [Fact]
    public async Task A_graceful_restart_mid_stream_loses_nothing_and_counts_nothing_twice()
    {
        // Paced, so that no partition goes idle while the stream lasts and the node stops in the middle of it.
        var producing = TestDataset.ProduceAsync(_kafka.BootstrapServers, ProductTopics.Input, seed: 5, Devices, events: 24_000, Slide, Bound, Lateness, perSecond: 3_000);

        var first = await StartNodeAsync();
        await WaitUntilAsync(async () => (await first.Store.RecentWindowEndsAsync(1)).Count > 0, TimeSpan.FromSeconds(30));
        Assert.False(producing.IsCompleted, "the stream ended before the restart; the test would not test a restart mid-stream");
        await first.DisposeAsync();

        await using var second = await StartNodeAsync();
        await producing;
        var oracle = KafkaOracle.Read(_kafka.BootstrapServers, ProductTopics.Input, Size, Slide, Lateness, Bound);
        await WaitForAllFinalAsync(second, oracle.Windows, TimeSpan.FromSeconds(90));

        await AssertRowsMatchAsync(second.Http, oracle.Windows);
        AssertSideTopics(oracle);
    }

    [Fact]
    public async Task A_crash_after_side_records_went_out_replays_without_sending_any_twice()
    {
        var producing = TestDataset.ProduceAsync(_kafka.BootstrapServers, ProductTopics.Input, seed: 9, Devices, events: 24_000, Slide, Bound, Lateness, perSecond: 2_000);

        var first = await StartNodeAsync();
        // The checkpoints of a moment mid-stream: a node killed then leaves them as the last ones,
        // while the records and side records after them were already processed and delivered.
        var atCrash = new Dictionary<string, PartitionProgress>();
        await WaitUntilAsync(async () =>
        {
            atCrash = await CheckpointsAsync(first);
            return atCrash.Count == ProductTopics.DefaultPartitions && atCrash.Values.All(c => c.Offset > 0);
        }, TimeSpan.FromSeconds(30));
        Assert.False(producing.IsCompleted, "the stream ended before the crash point; the replay would hold no side records");
        await producing;
        var oracle = KafkaOracle.Read(_kafka.BootstrapServers, ProductTopics.Input, Size, Slide, Lateness, Bound);
        await WaitForAllFinalAsync(first, oracle.Windows, TimeSpan.FromSeconds(90));
        await first.DisposeAsync();

        await using (var store = ResultStoreFactory.Create(Store.Store, Store.Connection))
        {
            foreach (var (key, checkpoint) in atCrash) await store.SaveProgressAsync(key, checkpoint.Encode());
        }
        var ends = KafkaOracle.ReadAll(_kafka.BootstrapServers, ProductTopics.Input)
            .GroupBy(r => PartitionProgress.KeyOf(first.Settings.GroupId, ProductTopics.Input, r.Partition.Value))
            .ToDictionary(g => g.Key, g => g.Max(r => r.Offset.Value) + 1);
        await using var second = await StartNodeAsync();
        // Replayed to the end: a commit there means every side record of the replay was delivered.
        await WaitUntilAsync(async () =>
        {
            var checkpoints = await CheckpointsAsync(second);
            return ends.All(e => checkpoints.TryGetValue(e.Key, out var c) && c.Offset >= e.Value);
        }, TimeSpan.FromSeconds(90));

        await AssertRowsMatchAsync(second.Http, oracle.Windows);
        AssertSideTopics(oracle);
    }

    [Fact]
    public async Task An_idle_jump_of_the_watermark_is_checkpointed_though_no_record_came_since()
    {
        var start = DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeMilliseconds();
        await TestDataset.ProduceAsync(_kafka.BootstrapServers, ProductTopics.Input, seed: 31, Devices, events: 500, Slide, Bound, Lateness, startMs: start);
        var startedAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        await using var node = await StartNodeAsync();
        // Each partition went idle (5 s) after its records, an hour old: its watermark jumped to the wall clock.
        await WaitUntilAsync(async () =>
        {
            var checkpoints = await CheckpointsAsync(node);
            return checkpoints.Count == ProductTopics.DefaultPartitions && checkpoints.Values.All(c => c.Watermark >= startedAt - Bound);
        }, TimeSpan.FromSeconds(30));
    }

    /// <summary>The checkpoints the node's input partitions have saved so far, by their store key.</summary>
    private static async Task<Dictionary<string, PartitionProgress>> CheckpointsAsync(TestNode node)
    {
        var checkpoints = new Dictionary<string, PartitionProgress>();
        for (var partition = 0; partition < ProductTopics.DefaultPartitions; partition++)
        {
            var key = PartitionProgress.KeyOf(node.Settings.GroupId, ProductTopics.Input, partition);
            if (await node.Store.LoadProgressAsync(key) is { } text) checkpoints[key] = PartitionProgress.Decode(text);
        }
        return checkpoints;
    }

    [Fact]
    public async Task A_fresh_broker_with_offsets_back_at_zero_does_not_make_devices_skip_its_records()
    {
        var start = DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeMilliseconds();
        await TestDataset.ProduceAsync(_kafka.BootstrapServers, ProductTopics.Input, seed: 21, Devices, events: 6_000, Slide, Bound, Lateness, startMs: start);
        var first = KafkaOracle.ReadAll(_kafka.BootstrapServers, ProductTopics.Input);

        // The first broker's records, consumed and checkpointed, with no idle jump of the watermark
        // (a long idle timeout), so the second run carries on from exactly where the records left it.
        await using (var node = await StartNodeAsync(environment: new Dictionary<string, string> { ["MC_IDLE_TIMEOUT"] = "10m" }))
        {
            await WaitUntilAsync(() => Task.FromResult(node.Services.GetRequiredService<CollectorMetrics>().RecordsIn >= first.Count), TimeSpan.FromSeconds(60));
        }

        using var fresh = EmbeddedKafka.Start();
        ProductTopics.Create(fresh);
        await TestDataset.ProduceAsync(fresh.BootstrapServers, ProductTopics.Input, seed: 22, Devices, events: 6_000, Slide, Bound, Lateness,
            startMs: start + 20 * 60_000);
        var second = KafkaOracle.ReadAll(fresh.BootstrapServers, ProductTopics.Input);

        var oracle = new ExactWindowOracle(Size, Slide, Lateness, Bound);
        var decoder = new Core.Events.EventDecoder();
        foreach (var record in first.Concat(second))
            if (decoder.TryDecode(record.Message.Value, out var evt, out _))
                oracle.Record(record.Partition.Value, record.Offset.Value, evt.DeviceId, evt.Timestamp, evt.CpuUsage);

        await using var again = await StartNodeAsync(fresh);
        await WaitForAllFinalAsync(again, oracle, TimeSpan.FromSeconds(90));
        await AssertRowsMatchAsync(again.Http, oracle);
    }

    /// <summary>
    /// A node started on what the topic holds serves exactly the oracle's rows, and the side topics hold its
    /// records. The node's store serves a row final only once no partition can change it (unkeyed rows too),
    /// so waiting for final is waiting for the end.
    /// </summary>
    private async Task AssertANodeServesAsync(KafkaOracle oracle)
    {
        await using var node = await StartNodeAsync();
        await WaitForAllFinalAsync(node, oracle.Windows, TimeSpan.FromSeconds(90));
        await AssertRowsMatchAsync(node.Http, oracle.Windows);
        AssertSideTopics(oracle);
    }

    internal static Task WaitForAllFinalAsync(TestNode node, ExactWindowOracle oracle, TimeSpan timeout) =>
        WaitForAllFinalAsync(node.Store, oracle, timeout);

    /// <summary>Waits until the store holds a final row for every window the oracle expects.</summary>
    internal static async Task WaitForAllFinalAsync(MetricsCollector.ReadSide.IResultStore store, ExactWindowOracle oracle, TimeSpan timeout)
    {
        var devices = oracle.Windows.Keys.Select(k => k.Device).Distinct().ToList();
        var (rows, open) = (0, 0);
        try
        {
            await WaitUntilAsync(async () =>
            {
                (rows, open) = (0, 0);
                foreach (var device in devices)
                {
                    var page = await store.HistoryAsync(device, null, null, 1000, null);
                    open += page.Items.Count(r => !r.Final);
                    rows += page.Items.Count;
                }
                return open == 0 && rows >= oracle.Windows.Count;
            }, timeout);
        }
        catch (TimeoutException e)
        {
            var stored = new HashSet<(string, long)>();
            foreach (var device in devices)
                foreach (var row in (await store.HistoryAsync(device, null, null, 1000, null)).Items)
                    stored.Add((row.DeviceId, row.WindowEnd));
            var missing = oracle.Windows.Where(w => !stored.Contains(w.Key)).Take(8)
                .Select(w => $"{w.Key} n={w.Value.Count} rev={w.Value.Revision}");
            throw new TimeoutException($"{e.Message}: {rows} rows stored ({open} not final), {oracle.Windows.Count} expected; missing e.g. {string.Join("; ", missing)}", e);
        }
    }

    internal static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"condition not met within {timeout}");
            await Task.Delay(250);
        }
    }

    /// <summary>
    /// Waits until <paramref name="http"/>'s node serves every row of <paramref name="oracle"/> final. The store
    /// marks a row final when its device fires it; the API only once every partition has saved a checkpoint
    /// past its close, which can come a snapshot interval and a commit later.
    /// </summary>
    private static async Task WaitUntilServedFinalAsync(HttpClient http, ExactWindowOracle oracle, TimeSpan timeout)
    {
        var open = 0;
        try
        {
            await WaitUntilAsync(async () =>
            {
                var served = await ServedRowsAsync(http, oracle);
                open = oracle.Windows.Keys.Count(k => !served.TryGetValue(k, out var row) || !row.Final);
                return open == 0;
            }, timeout);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{open} rows still not served final after {timeout}", e);
        }
    }

    private static async Task<Dictionary<(string, long), ApiRow>> ServedRowsAsync(HttpClient http, ExactWindowOracle oracle)
    {
        var served = new Dictionary<(string, long), ApiRow>();
        foreach (var device in oracle.Windows.Keys.Select(k => k.Device).Distinct())
        {
            string? cursor = null;
            do
            {
                var url = $"/metrics/devices/{device}/history?limit=7" + (cursor is null ? "" : $"&cursor={Uri.EscapeDataString(cursor)}");
                var page = await http.GetFromJsonAsync<ApiPage>(url, Json);
                foreach (var row in page!.Items) Assert.True(served.TryAdd((row.DeviceId, ParseTime(row.WindowEnd)), row), $"{device}: row served twice");
                cursor = page.NextCursor;
            } while (cursor is not null);
        }
        return served;
    }

    /// <summary>Once the node serves every row final (within a minute), it serves exactly the oracle's rows.</summary>
    internal static async Task AssertRowsMatchAsync(HttpClient http, ExactWindowOracle oracle)
    {
        await WaitUntilServedFinalAsync(http, oracle, TimeSpan.FromSeconds(60));
        var served = await ServedRowsAsync(http, oracle);
        foreach (var device in oracle.Windows.Keys.Select(k => k.Device).Distinct())
        {
            var latest = await http.GetFromJsonAsync<ApiRow>($"/metrics/devices/{device}", Json);
            Assert.Equal(served.Where(r => r.Key.Item1 == device).Max(r => r.Key.Item2), ParseTime(latest!.WindowEnd));
        }

        Assert.Equal(oracle.Windows.Keys.OrderBy(k => k), served.Keys.OrderBy(k => k));
        foreach (var (key, expected) in oracle.Windows)
        {
            var row = served[key];
            var at = $"{key}";
            Assert.True(expected.Count == row.Count, $"{at}: count {row.Count}, expected {expected.Count}");
            Assert.True(expected.Min == row.Min && expected.Max == row.Max, $"{at}: min/max");
            Assert.True(Math.Abs(expected.Mean - row.Mean) <= 1e-9 * Math.Max(1, expected.Mean), $"{at}: mean {row.Mean} vs {expected.Mean}");
            Assert.True(expected.Revision == row.Revision, $"{at}: revision {row.Revision}, expected {expected.Revision}");
            Assert.True(row.Final, at);
            Assert.Equal(expected.Start, ParseTime(row.WindowStart));
            foreach (var (q, value, name) in new[] { (0.5, row.P50, "p50"), (0.9, row.P90, "p90"), (0.95, row.Percentile95, "p95"), (0.99, row.P99, "p99") })
            {
                Assert.True(expected.RankError(q, value) <= expected.RankBound(q), $"{at}: q={q} -> {value}, rank error {expected.RankError(q, value)}");
                var (lowest, highest) = expected.ExactAnswers(q);
                Assert.True(row.Bounds[name][0] <= lowest && highest <= row.Bounds[name][1], $"{at}: {name} bounds [{string.Join(", ", row.Bounds[name])}] miss the exact [{lowest}, {highest}]");
            }
        }
    }

    private void AssertSideTopics(KafkaOracle oracle) => AssertSideTopics(_kafka.BootstrapServers, oracle);

    /// <summary>The too-late and dead-letter topics hold exactly the oracle's records, each once.</summary>
    internal static void AssertSideTopics(string bootstrap, KafkaOracle oracle)
    {
        var tooLate = KafkaOracle.ReadAll(bootstrap, ProductTopics.TooLate)
            .Select(r => (int.Parse(KafkaOracle.Header(r, "source-partition"), CultureInfo.InvariantCulture),
                          long.Parse(KafkaOracle.Header(r, "source-offset"), CultureInfo.InvariantCulture)))
            .ToList();
        Assert.Equal(tooLate.Count, tooLate.Distinct().Count());
        Assert.Equal(oracle.TooLate.OrderBy(x => x), tooLate.OrderBy(x => x));

        var dead = KafkaOracle.ReadAll(bootstrap, ProductTopics.DeadLetter)
            .Select(r => (int.Parse(KafkaOracle.Header(r, "source-partition"), CultureInfo.InvariantCulture),
                          long.Parse(KafkaOracle.Header(r, "source-offset"), CultureInfo.InvariantCulture),
                          KafkaOracle.Header(r, "reason")))
            .ToList();
        Assert.Equal(oracle.DeadLetters.OrderBy(x => x), dead.OrderBy(x => x));
    }

    private static long ParseTime(string iso)
    {
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", iso);
        return DateTimeOffset.Parse(iso, CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
    }

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private sealed record ApiPage(List<ApiRow> Items, string? NextCursor);

    private sealed record ApiRow(
        string DeviceId,
        string WindowStart,
        string WindowEnd,
        double Percentile95,
        double P50,
        double P90,
        double P99,
        double Min,
        double Max,
        double Mean,
        long Count,
        int Revision,
        bool Final,
        string LastUpdated,
        Dictionary<string, double[]> Bounds);
}

public sealed class SqlitePipelineEndToEndTests : PipelineEndToEndTests
{
    protected override (string Store, string Connection) Store => ("sqlite", $"Data Source={Path.Combine(Dir, "metrics.db")}");
}

/// <summary>The same pipeline with PostgreSQL holding the snapshots and the rows: the cluster store.</summary>
public sealed class PostgresPipelineEndToEndTests : PipelineEndToEndTests
{
    private readonly PostgresStoreFixture _database = new();

    protected override (string Store, string Connection) Store => ("postgresql", _database.DatabaseConnectionString);

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await _database.InitializeAsync();
    }

    public override async Task DisposeAsync()
    {
        await _database.DisposeAsync();
        await base.DisposeAsync();
    }
}

/// <summary>
/// The node's checkpoint store, whose first loads fail with an error the consumer does not expect:
/// the assignment that needs them fails the Kafka consumer.
/// </summary>
internal sealed class CheckpointsFailingAtFirst(int loads) : IHostedServiceRegistration, IPartitionProgressStore
{
    private int _remaining = loads;
    private int _failed;
    private StoreProgress? _inner;

    public int Failed => Volatile.Read(ref _failed);

    public void Register(IServiceCollection services) =>
        services.AddSingleton<IPartitionProgressStore>(provider =>
        {
            _inner = new StoreProgress(provider.GetRequiredService<IResultStore>());
            return this;
        });

    public Task SaveAsync(string key, PartitionProgress progress) => _inner!.SaveAsync(key, progress);

    public Task<PartitionProgress?> LoadAsync(string key)
    {
        if (Interlocked.Decrement(ref _remaining) < 0) return _inner!.LoadAsync(key);
        Interlocked.Increment(ref _failed);
        throw new InvalidOperationException("injected: the checkpoint store failed");
    }
}
