using System.Diagnostics;
using MetricsCollector.Core.Digests;
using MetricsCollector.Core.Windows;
using MetricsCollector.ReadSide;
using MetricsCollector.Testing;
using Microsoft.Extensions.Logging;
using Npgsql;
using Xunit.Abstractions;

namespace MetricsCollector.Tests.ReadSide;

/// <summary>Deleting rows of windows that ended longer ago than the retention, on every backend.</summary>
public abstract class RetentionTests : IAsyncLifetime
{
    protected const long Minute = 60_000;
    private const long T0 = 1_764_307_800_000; // 2025-11-28T05:30:00Z
    private const int Devices = 200;

    /// <summary>A window's digest as a device stores it in its part: 30 panes of 60 CPU readings (467 bytes).</summary>
    private static readonly byte[] WindowDigest = RealisticDigest();

    private readonly IStoreFixture _fixture;

    protected RetentionTests(IStoreFixture fixture, ITestOutputHelper output)
    {
        _fixture = fixture;
        Output = output;
    }

    protected ITestOutputHelper Output { get; }

    protected SqlResultStore Store => _fixture.Store;

    protected static long Now => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public Task InitializeAsync() => _fixture.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    private static WindowResult Row(string device, long windowEnd) => ResultStoreTests.Row(device, windowEnd);

    [Fact]
    public async Task Rows_and_parts_of_windows_ended_before_the_cutoff_go_oldest_first_in_batches_and_later_ones_stay()
    {
        // Ten expired windows, the oldest in three parts (records of its device came on three partitions), one
        // ending at the cutoff itself, and later ones, one of them in two parts.
        var expired = Enumerable.Range(1, 10).Select(i => Row($"d{i % 3}", T0 - i * Minute)).ToArray();
        var kept = new[] { Row("d0", T0), Row("d1", T0 + Minute), Row("d2", T0 + 2 * Minute) };
        var oldest = expired[^1];
        await Store.UpsertAsync(
        [
            .. SinglePart.Of(expired), SinglePart.Of(oldest, 1), SinglePart.Of(oldest, 2),
            .. SinglePart.Of(kept), SinglePart.Of(kept[1], 3),
        ]);

        Assert.Equal(new DeletedRows(4, 6), await Store.DeleteEndedBeforeAsync(T0, 4));
        Assert.Equal(Enumerable.Range(1, 6).Select(i => T0 - i * Minute).Order(), await ExpiredEndsAsync());

        Assert.Equal(new DeletedRows(4, 4), await Store.DeleteEndedBeforeAsync(T0, 4));
        Assert.Equal(new DeletedRows(2, 2), await Store.DeleteEndedBeforeAsync(T0, 4));
        Assert.Equal(default, await Store.DeleteEndedBeforeAsync(T0, 4));
        Assert.Empty(await ExpiredEndsAsync());
        foreach (var row in kept)
        {
            Assert.Equal(row.WindowEnd, Assert.Single((await Store.HistoryAsync(row.DeviceId, T0, null, 10, null)).Items).WindowEnd);
        }

        // What a window's row is made of shows when another part joins it: the expired window's old parts are
        // gone with its row, the kept window's two are still there.
        var late = SinglePart.Of(oldest, 7);
        Assert.Equal([late.Row], await Store.UpsertAsync([late]));
        var third = await Store.UpsertAsync([SinglePart.Of(kept[1], 5)]);
        Assert.Equal(3 * kept[1].Count, Assert.Single(third).Count);

        async Task<List<long>> ExpiredEndsAsync()
        {
            var ends = new List<long>();
            foreach (var device in new[] { "d0", "d1", "d2" })
            {
                ends.AddRange((await Store.HistoryAsync(device, null, T0 - 1, 100, null)).Items.Select(r => r.WindowEnd));
            }

            ends.Sort();
            return ends;
        }
    }

    [Fact]
    public async Task Expired_rows_are_found_in_window_end_order_through_an_index_and_their_parts_through_the_parts_key()
    {
        // Enough rows that a planner with statistics would scan the tables if no index served the statements,
        // and more expired rows than a batch takes: the batch reads the index in window_end order and stops.
        // Records of every device on two partitions, so that the windows' parts are in window_parts, as with
        // unkeyed producers: the table whose deletes must go by its key (one-part windows keep theirs in the row).
        await WriteWindowsAsync(Enumerable.Range(0, 30).Select(w => T0 + w * Minute), devices: 300, partitions: 2);
        await _fixture.AnalyzeAsync();

        var (rows, parts) = await Store.ExplainDeleteEndedBeforeAsync(T0 + 15 * Minute, 500, [("device-7", T0), ("device-8", T0 + Minute)]);
        Output.WriteLine(rows);
        Output.WriteLine(parts);

        Assert.Contains("window_results_top_", rows, StringComparison.Ordinal);
        if (_fixture.IsPostgres)
        {
            Assert.Contains("Tid Scan", rows, StringComparison.Ordinal);
            Assert.Contains("window_parts_pkey", parts, StringComparison.Ordinal);
            Assert.DoesNotContain("Sort", rows, StringComparison.Ordinal);
            Assert.DoesNotContain("Seq Scan", rows + parts, StringComparison.Ordinal);
        }
        else
        {
            Assert.Contains("INTEGER PRIMARY KEY (rowid=?)", rows, StringComparison.Ordinal);
            Assert.Contains("sqlite_autoindex_window_parts_1", parts, StringComparison.Ordinal);
            Assert.DoesNotContain("TEMP B-TREE", rows, StringComparison.Ordinal);
            Assert.DoesNotMatch(@"SCAN window_(results|parts)\b(?! USING)", rows + parts);
        }
    }

    [Fact]
    public async Task The_service_removes_a_backlog_of_20k_rows_in_bounded_batches_with_one_log_line_for_the_pass()
    {
        var retention = TimeSpan.FromDays(7);
        var endedBefore = Now - (long)retention.TotalMilliseconds;
        await WriteBacklogAsync(endedBefore, 20_000);
        var recent = Enumerable.Range(0, 3).Select(i => endedBefore + (i + 60) * Minute).ToArray();
        await WriteWindowsAsync(recent, Devices);
        var log = new ListLogger<RetentionService>();
        using var service = new RetentionService(
            Store,
            new RetentionSettings(retention) { BatchSize = 1000, Interval = TimeSpan.FromHours(1), Pause = TimeSpan.FromMilliseconds(10) },
            TimeProvider.System,
            log);

        await service.StartAsync(CancellationToken.None);
        var deadline = Stopwatch.StartNew();
        while (!log.Lines(LogLevel.Information).Any(l => l.Contains("deleted", StringComparison.Ordinal)) && deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(100);
        }

        await service.StopAsync(CancellationToken.None);
        foreach (var line in log.Lines(LogLevel.Trace))
        {
            Output.WriteLine(line);
        }

        var pass = Assert.Single(log.Lines(LogLevel.Information), l => l.Contains("deleted", StringComparison.Ordinal));
        // 20 full batches, then one that comes back short.
        Assert.Contains("deleted 20000 rows and 20000 window parts", pass, StringComparison.Ordinal);
        Assert.Contains("(21 batches)", pass, StringComparison.Ordinal);
        Assert.Empty(log.Lines(LogLevel.Warning));
        Assert.Equal(recent.Reverse(), await Store.RecentWindowEndsAsync(100));
    }

    /// <summary>
    /// Not a timing assertion: what a batch costs and how long a writer and a reader wait while a pass runs go to
    /// the test output (docs/benchmarks.md, "Retention"), measured at the default batch size and pause.
    /// </summary>
    [Fact]
    public async Task How_long_a_batch_takes_and_a_writer_and_a_reader_wait_while_a_pass_deletes_a_backlog()
    {
        var settings = new RetentionSettings(TimeSpan.FromDays(7));
        var endedBefore = Now - (long)settings.Retention.TotalMilliseconds;
        // A process's first calls of a path also pay for tiered compilation (200-400 ms of JIT time fell inside
        // one measured batch that stalled for most of a second). A node in service is long past that, so one
        // unmeasured round in small batches comes first.
        await WriteBacklogAsync(endedBefore, 20_000);
        await DeleteAllTimedAsync(endedBefore, 100);
        Output.WriteLine($"{Backend}: backlogs of 20,000 rows of {Devices} devices, one part each with a {WindowDigest.Length}-byte digest");
        foreach (var size in new[] { settings.BatchSize, 2 * settings.BatchSize })
        {
            await WriteBacklogAsync(endedBefore, 20_000);
            var batches = await DeleteAllTimedAsync(endedBefore, size);

            Assert.Equal(20_000 / size + 1, batches.Count);
            Output.WriteLine($"{Backend}: batches of {size} rows and their parts: {Summary(batches[..^1])}; the last, empty: {batches[^1]:F1} ms");
        }

        await WriteBacklogAsync(endedBefore, 20_000);
        var (writesAlone, readsAlone) = await WriteAndReadWhileAsync(Task.Delay(TimeSpan.FromSeconds(2)), firstWindow: 0);
        using var service = new RetentionService(Store, settings, TimeProvider.System, new ListLogger<RetentionService>());
        var pass = service.RunPassAsync(CancellationToken.None);
        var (writesDuring, readsDuring) = await WriteAndReadWhileAsync(pass, firstWindow: 10_000);

        var done = (await pass)!;
        Assert.Equal(20_000, done.Rows);
        Output.WriteLine($"{Backend}: pass of 20,000 rows: {done.Elapsed.TotalMilliseconds:F0} ms in {done.Batches} batches, {settings.Pause.TotalMilliseconds} ms pauses");
        Output.WriteLine($"{Backend}: writer, upserts of 100 parts, alone:       {Summary(writesAlone)}");
        Output.WriteLine($"{Backend}: writer, upserts of 100 parts, during pass: {Summary(writesDuring)}");
        Output.WriteLine($"{Backend}: reader, a device's latest row, alone:       {Summary(readsAlone)}");
        Output.WriteLine($"{Backend}: reader, a device's latest row, during pass: {Summary(readsDuring)}");
    }

    private string Backend => _fixture.IsPostgres ? "PostgreSQL" : "SQLite";

    /// <summary>Deletes every row that ended before <paramref name="endedBefore"/>, timing each batch.</summary>
    private async Task<List<double>> DeleteAllTimedAsync(long endedBefore, int batchSize)
    {
        var batches = new List<double>();
        DeletedRows deleted;
        do
        {
            var watch = Stopwatch.StartNew();
            deleted = await Store.DeleteEndedBeforeAsync(endedBefore, batchSize);
            batches.Add(watch.Elapsed.TotalMilliseconds);
        }
        while (deleted.Rows == batchSize);

        return batches;
    }

    /// <summary>
    /// A writer upserting 100 new parts at a time, as the result writer does, and beside it a reader asking for
    /// a device's latest row, each timing every call until <paramref name="until"/> completes.
    /// </summary>
    private async Task<(List<double> Writes, List<double> Reads)> WriteAndReadWhileAsync(Task until, int firstWindow)
    {
        var writes = new List<double>();
        var reads = new List<double>();
        var start = Now;
        var writer = Task.Run(async () =>
        {
            for (var window = firstWindow; !until.IsCompleted; window++)
            {
                var parts = Enumerable.Range(0, 100)
                    .Select(d => SinglePart.Of(Row($"writer-{d}", start + window * Minute)) with { Digest = WindowDigest })
                    .ToArray();
                var watch = Stopwatch.StartNew();
                await Store.UpsertAsync(parts);
                writes.Add(watch.Elapsed.TotalMilliseconds);
                await Task.Delay(10);
            }
        });
        var reader = Task.Run(async () =>
        {
            for (var i = 0; !until.IsCompleted; i++)
            {
                var watch = Stopwatch.StartNew();
                await Store.LatestAsync($"device-{i % Devices}");
                reads.Add(watch.Elapsed.TotalMilliseconds);
                await Task.Delay(5);
            }
        });
        await Task.WhenAll(writer, reader, until);
        return (writes, reads);
    }

    private static string Summary(List<double> millis)
    {
        var sorted = millis.Order().ToArray();
        double At(double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
        return $"n={sorted.Length} p50={At(0.5):F1} ms p99={At(0.99):F1} ms max={sorted[^1]:F1} ms";
    }

    /// <summary>
    /// <paramref name="rows"/> rows of <see cref="Devices"/> devices, a window a minute, the last ending a minute
    /// before <paramref name="endedBefore"/>; written oldest first, as windows fire.
    /// </summary>
    protected async Task WriteBacklogAsync(long endedBefore, int rows)
    {
        var windows = rows / Devices;
        var parts = Enumerable.Range(0, rows)
            .Select(i => SinglePart.Of(Row($"device-{i % Devices}", endedBefore - (windows - i / Devices) * Minute)) with { Digest = WindowDigest });
        foreach (var batch in parts.Chunk(2000))
        {
            await Store.UpsertAsync(batch);
        }
    }

    private async Task WriteWindowsAsync(IEnumerable<long> windowEnds, int devices, int partitions = 1)
    {
        foreach (var windowEnd in windowEnds)
        {
            await Store.UpsertAsync(Enumerable.Range(0, devices)
                .SelectMany(d => Enumerable.Range(0, partitions).Select(p => SinglePart.Of(Row($"device-{d}", windowEnd), p)))
                .ToList());
        }
    }

    private static byte[] RealisticDigest()
    {
        var random = new Random(5);
        var panes = Enumerable.Range(0, 30).Select(_ =>
        {
            var pane = new TDigest();
            for (var i = 0; i < 60; i++) pane.Add(Math.Round(random.NextDouble() * 100, 2));
            return pane;
        }).ToArray();
        return TDigest.MergeAll(panes).ToBytes();
    }
}

// One collection: the two backends' classes run one after the other, so neither's measurement runs against the other's load.
[Collection(nameof(RetentionTests))]
public sealed class SqliteRetentionTests(SqliteStoreFixture fixture, ITestOutputHelper output)
    : RetentionTests(fixture, output), IClassFixture<SqliteStoreFixture>
{
    [Fact]
    public async Task The_one_node_of_an_embedded_store_always_has_the_turn()
    {
        await using var first = await Store.TryLockRetentionAsync();
        await using var second = await Store.TryLockRetentionAsync();

        Assert.NotNull(first);
        Assert.NotNull(second);
    }
}

[Collection(nameof(RetentionTests))]
public sealed class PostgresRetentionTests(PostgresStoreFixture fixture, ITestOutputHelper output)
    : RetentionTests(fixture, output), IClassFixture<PostgresStoreFixture>
{
    [Fact]
    public async Task One_store_at_a_time_has_the_turn_and_a_lost_session_gives_it_up()
    {
        await using var other = new PostgresResultStore(fixture.DatabaseConnectionString);

        var held = await Store.TryLockRetentionAsync();
        Assert.NotNull(held);
        Assert.Null(await other.TryLockRetentionAsync());
        await held.DisposeAsync();

        var taken = await other.TryLockRetentionAsync();
        Assert.NotNull(taken);
        Assert.Null(await Store.TryLockRetentionAsync());

        // A node that dies loses its session: the server ends it here, and its lock with it. Releasing a lock
        // whose session is gone does not fail.
        await TerminateRetentionLockHolderAsync();
        await using (var afterDeath = await Store.TryLockRetentionAsync())
        {
            Assert.NotNull(afterDeath);
        }

        await taken.DisposeAsync();
    }

    [Fact]
    public async Task Two_nodes_on_one_database_never_delete_at_the_same_time()
    {
        await using var other = new PostgresResultStore(fixture.DatabaseConnectionString);
        var retention = TimeSpan.FromDays(7);
        await WriteBacklogAsync(Now - (long)retention.TotalMilliseconds, 20_000);
        // Both stores have a connection ready, so both passes start at once and, without the lock, would
        // both delete, taking turns row by row.
        await other.PingAsync();
        var settings = new RetentionSettings(retention) { BatchSize = 1000 };
        using var first = new RetentionService(Store, settings, TimeProvider.System, new ListLogger<RetentionService>());
        using var second = new RetentionService(other, settings, TimeProvider.System, new ListLogger<RetentionService>());

        var passes = await Task.WhenAll(first.RunPassAsync(CancellationToken.None), second.RunPassAsync(CancellationToken.None));
        Output.WriteLine(string.Join(Environment.NewLine, passes.Select(p => p?.ToString() ?? "turn taken")));

        // One pass deleted everything, over 20 batches and their pauses; the other found the turn taken (or, on
        // a slow machine, got it only once the first had finished, with nothing left).
        Assert.Equal(20_000, Assert.Single(passes, p => p is { Rows: > 0 })!.Rows);
        Assert.Equal(0, (await second.RunPassAsync(CancellationToken.None))!.Rows);
    }

    private async Task TerminateRetentionLockHolderAsync()
    {
        await using var connection = new NpgsqlConnection(fixture.DatabaseConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            // With a timeout, pg_terminate_backend waits for the session to end, and so for its locks to go.
            "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            connection);
        Assert.Equal(1L, await command.ExecuteScalarAsync());
    }
}

/// <summary>Keeps what a component logs, formatted, so a test can read it.</summary>
internal sealed class ListLogger<T> : ILogger<T>
{
    private readonly List<(LogLevel Level, string Line)> _lines = [];

    public IReadOnlyList<string> Lines(LogLevel atLeast)
    {
        lock (_lines)
        {
            return _lines.Where(l => l.Level >= atLeast).Select(l => $"{l.Level}: {l.Line}").ToList();
        }
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_lines)
        {
            _lines.Add((logLevel, formatter(state, exception)));
        }
    }
}
