using MetricsCollector.Core.Events;
using MetricsCollector.Core.Reconciliation;
using MetricsCollector.Core.Windows;
using MetricsCollector.Configuration;
using MetricsCollector.Kafka;
using MetricsCollector.ReadSide;
using MetricsCollector.Tests.Support;
using MetricsCollector.Testing;
using Microsoft.Data.Sqlite;
using static MetricsCollector.Tests.EndToEnd.PipelineEndToEndTests;

namespace MetricsCollector.Tests.EndToEnd;

/// <summary>
/// Reconciliation through the embedded broker and a real SQLite store: a node turns a seeded stream into final
/// rows and sends its too-late events to the too-late topic; reconciling a range then adds exactly the too-late
/// events of that range to the windows they belong to, as new final revisions, once however often it runs or
/// however it is stopped; and a node serves and produces the reconciled rows.
/// </summary>
public sealed class ReconcileEndToEndTests : BrokerTest
{
    [Fact]
    public async Task Reconcile_adds_each_too_late_event_of_the_range_to_its_windows_once_run_twice_or_stopped_midway()
    {
        await TestDataset.ProduceAsync(Kafka.BootstrapServers, ProductTopics.Input, seed: 83, devices: 20, events: 8_000, Slide, Bound, Lateness);
        var oracle = KafkaOracle.Read(Kafka.BootstrapServers, ProductTopics.Input, Size, Slide, Lateness, Bound).Windows;
        var file = Path.Combine(Dir, "metrics.db");
        CollectorSettings settings;
        await using (var node = await TestNode.StartAsync(Kafka.BootstrapServers, file))
        {
            await WaitForAllFinalAsync(node, oracle, TimeSpan.FromSeconds(90));
            await WaitUntilAsync(() => Task.FromResult(KafkaOracle.ReadAll(Kafka.BootstrapServers, ProductTopics.TooLate).Count == oracle.TooLate.Count), TimeSpan.FromSeconds(30));
            settings = node.Settings;
        }

        // The too-late events, and a range that holds about half of them, its ends at no window boundary.
        var decoder = new EventDecoder();
        var tooLate = KafkaOracle.ReadAll(Kafka.BootstrapServers, ProductTopics.TooLate)
            .Select(r => decoder.TryDecode(r.Message.Value, out var e, out _) ? e : throw new InvalidDataException("a too-late record that does not decode"))
            .ToList();
        var times = tooLate.Select(e => e.Timestamp).Order().ToList();
        var (from, to) = (times[times.Count / 4] + 1, times[3 * times.Count / 4] + 1);
        var inRange = tooLate.Where(e => e.Timestamp >= from && e.Timestamp < to).ToList();
        var added = inRange.SelectMany(e => ReconciledParts.EndsHolding(settings.Windows.Spec, e.Timestamp).Select(end => (e.DeviceId, end)))
            .GroupBy(k => k).ToDictionary(g => g.Key, g => g.Count());
        Assert.True(inRange.Count >= 50, $"only {inRange.Count} too-late events in the range");

        var devices = oracle.Windows.Keys.Select(k => k.Device).Union(tooLate.Select(e => e.DeviceId)).Distinct().ToList();
        var stopped = Path.Combine(Dir, "stopped.db");
        Backup(file, stopped);
        await using var store = Store(settings, file);
        var before = await RowsAsync(store, devices);

        // One batch per record: a window's revision goes up once per event of the range in it.
        var first = await Reconcile(store, settings, batchSize: 1).RunAsync(from, to, CancellationToken.None);
        var after = await RowsAsync(store, devices);

        Assert.Equal(inRange.Count, first.Applied);
        Assert.Equal(before.Keys.Union(added.Keys).Order(), after.Keys.Order());
        foreach (var (key, row) in after)
        {
            var (n, expected) = (added.GetValueOrDefault(key), oracle.Windows.TryGetValue(key, out var window) ? window.Count : 0);
            var at = $"{key}: count {row.Count}, revision {row.Revision}";
            Assert.True(row.Count == expected + n, $"{at}, expected count {expected} + {n} reconciled");
            Assert.True(row.Final, $"{at}: not final");
            if (n == 0) Assert.Equal(before[key], row);
            else Assert.True(row.Revision == (before.TryGetValue(key, out var old) ? old.Revision : 0) + n, $"{at}, {n} events reconciled");
        }

        // Again: every record of the range is known as applied, nothing changes.
        var second = await Reconcile(store, settings, batchSize: 1).RunAsync(from, to, CancellationToken.None);
        Assert.Equal((0L, (long)inRange.Count), (second.Applied, second.AlreadyApplied));
        Assert.Equal(after, await RowsAsync(store, devices));

        // Stopped after a few batches that applied something, then run to the end: the same rows as one run.
        await using (var other = Store(settings, stopped))
        {
            using var stop = new CancellationTokenSource();
            var applying = 0;
            var killed = Reconcile(other, settings, batchSize: 1, (batch, _) =>
            {
                if (batch.Events > 0 && ++applying == 5) stop.Cancel();
                return Task.CompletedTask;
            });
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => killed.RunAsync(from, to, stop.Token));
            var resumed = await Reconcile(other, settings, batchSize: 1).RunAsync(from, to, CancellationToken.None);
            Assert.Equal((inRange.Count - 5L, 5L), (resumed.Applied, resumed.AlreadyApplied));
            Assert.Equal(WithoutTimes(after), WithoutTimes(await RowsAsync(other, devices)));
        }

        // A node on the reconciled store serves the rows final and produces their new revisions to the results topic.
        await using (var node = await TestNode.StartAsync(Kafka.BootstrapServers, file))
        {
            var changed = added.Keys.First();
            await WaitUntilAsync(async () => await node.Store.HistoryAsync(changed.DeviceId, changed.end, changed.end, 1, null) is { Items: [{ Final: true }] }, TimeSpan.FromSeconds(30));
            await ResultsTopicCheck.AssertEqualsStoredRowsAsync(Kafka.BootstrapServers, node.Store, oracle, TimeSpan.FromSeconds(60), reconciled: true);
        }
    }

    private static SqliteResultStore Store(CollectorSettings settings, string file) =>
        new SqliteResultStore($"Data Source={file}") { KeepsResultsOutbox = settings.ResultsTopic is not null };

    private Reconciliation Reconcile(SqliteResultStore store, CollectorSettings settings, int batchSize, Func<ReconcileBatch, CancellationToken, Task>? batchApplied = null) =>
        new(store, new KafkaClients(Kafka.BootstrapServers), new Reconciliation.Options(settings.TooLateTopic, settings.GroupId, settings.Windows, batchSize), TimeProvider.System)
        {
            BatchApplied = batchApplied,
        };

    private static async Task<Dictionary<(string DeviceId, long end), WindowResult>> RowsAsync(SqliteResultStore store, IEnumerable<string> devices)
    {
        var rows = new Dictionary<(string, long), WindowResult>();
        foreach (var device in devices)
            foreach (var row in (await store.HistoryAsync(device, null, null, 10_000, null)).Items)
                rows[(row.DeviceId, row.WindowEnd)] = row;
        return rows;
    }

    private static Dictionary<(string, long), WindowResult> WithoutTimes(Dictionary<(string DeviceId, long end), WindowResult> rows) =>
        rows.ToDictionary(r => r.Key, r => r.Value with { LastUpdated = 0 });

    /// <summary>A consistent copy of a stopped node's SQLite file, through SQLite's backup.</summary>
    private static void Backup(string file, string copy)
    {
        using var source = new SqliteConnection($"Data Source={file};Pooling=False");
        using var target = new SqliteConnection($"Data Source={copy};Pooling=False");
        source.Open();
        source.BackupDatabase(target);
    }
}
