using System.Diagnostics;
using Akka.Persistence;
using Microsoft.Data.Sqlite;
using MetricsCollector.Persistence;
using MetricsCollector.Tests.Support.Processes;

namespace MetricsCollector.Tests.Persistence;

/// <summary>The node's snapshot store, through Akka's snapshot protocol, on a real database of each kind.</summary>
public abstract class SnapshotStoreTests(string provider) : IAsyncLifetime
{
    private static readonly DateTime T0 = new(2026, 12, 1, 10, 0, 0, DateTimeKind.Utc);

    private SnapshotDatabase _database = null!;

    public async Task InitializeAsync() => _database = await SnapshotDatabase.CreateAsync(provider);

    public async Task DisposeAsync() => await _database.DisposeAsync();

    [Fact]
    public async Task Keeps_the_newest_snapshot_of_each_id_across_restarts()
    {
        await using (var node = SnapshotNode.Start(_database))
        {
            await node.SaveAsync("device-a", "a1", timestamp: T0);
            await node.SaveAsync("device-b", "b1", timestamp: T0);
            var newest = await node.SaveAsync("device-a", "a2", timestamp: T0.AddTicks(1));
            var loaded = await node.LoadAsync("device-a");
            Assert.Equal("a2", loaded?.Snapshot);
            Assert.Equal(newest, loaded?.Metadata);
            Assert.Null(await node.LoadAsync("device-c"));

            // A higher sequence number is newer whatever its timestamp; a lower one does not replace it.
            await node.SaveAsync("device-b", "b5", sequenceNr: 5, timestamp: T0);
            await node.SaveAsync("device-b", "b3", sequenceNr: 3, timestamp: T0.AddHours(1));
            // Criteria that exclude the newest find nothing: older ones are not kept.
            Assert.Null(await node.LoadAsync("device-b", new SnapshotSelectionCriteria(4)));
        }
        Assert.Equal(2, await _database.CountAsync($"SELECT count(*) FROM {SnapshotTable.Name}"));

        await using var restarted = SnapshotNode.Start(_database);
        Assert.Equal("a2", (await restarted.LoadAsync("device-a"))?.Snapshot);
        var b = await restarted.LoadAsync("device-b");
        Assert.Equal(("b5", 5L, T0), (b?.Snapshot, b?.Metadata.SequenceNr, b?.Metadata.Timestamp));
    }

    /// <summary>
    /// Devices save at sequence number 0 with no timestamp of their own. After a failed save Akka's base
    /// class deletes what the failed save named, which with sequence number 0 and no timestamp is the
    /// device's previous snapshot (Akka.Persistence.Sql does: see <see cref="LegacySnapshotStoreTests"/>).
    /// </summary>
    [Fact]
    public async Task A_failed_save_leaves_the_previous_snapshot()
    {
        await using var node = SnapshotNode.Start(_database);
        await node.SaveAsync("device-a", "good", timestamp: DateTime.MinValue);
        var failure = await node.AskAsync(new SaveSnapshot(new SnapshotMetadata("device-a", 0, DateTime.MinValue), new Unserializable()));
        Assert.IsType<SaveSnapshotFailure>(failure);
        // The base class's clean-up runs after the failure is answered: give it time to do harm.
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Equal("good", (await node.LoadAsync("device-a"))?.Snapshot);
    }

    [Fact]
    public async Task A_delete_removes_only_the_snapshot_it_names()
    {
        await using var node = SnapshotNode.Start(_database);
        var saved = await node.SaveAsync("device-a", "a", timestamp: T0.AddTicks(1));
        var older = new SnapshotMetadata("device-a", 0, T0);
        Assert.IsType<DeleteSnapshotSuccess>(await node.AskAsync(new DeleteSnapshot(older)));
        Assert.Equal("a", (await node.LoadAsync("device-a"))?.Snapshot);
        Assert.IsType<DeleteSnapshotSuccess>(await node.AskAsync(new DeleteSnapshot(saved)));
        Assert.Null(await node.LoadAsync("device-a"));

        await node.SaveAsync("device-b", "b", sequenceNr: 5, timestamp: T0);
        Assert.IsType<DeleteSnapshotsSuccess>(await node.AskAsync(new DeleteSnapshots("device-b", new SnapshotSelectionCriteria(4))));
        Assert.Equal("b", (await node.LoadAsync("device-b"))?.Snapshot);
        Assert.IsType<DeleteSnapshotsSuccess>(await node.AskAsync(new DeleteSnapshots("device-b", new SnapshotSelectionCriteria(5, T0))));
        Assert.Null(await node.LoadAsync("device-b"));
    }

    [Fact]
    public async Task Concurrent_saves_share_transactions_and_concurrent_loads_answer_each_id()
    {
        const int Devices = 500;
        await using var node = SnapshotNode.Start(_database);
        await node.SaveAsync("warm-up", "schema");
        var transactions = await _database.CountWritesAsync();

        await Task.WhenAll(Enumerable.Range(0, Devices).Select(i => node.SaveAsync($"device-{i}", $"state-{i}")));

        // A transaction per save would be 500; a batch gathers what arrives while the one before it is written.
        Assert.InRange(await transactions(), 1, Devices / 20);
        var loaded = await Task.WhenAll(Enumerable.Range(0, Devices + 10).Select(i => node.LoadAsync($"device-{i}")));
        Assert.Equal(Enumerable.Range(0, Devices + 10).Select(i => i < Devices ? $"state-{i}" : null), loaded.Select(s => (string?)s?.Snapshot));
    }

    protected SnapshotDatabase Database => _database;

    /// <summary>Akka's JSON serializer reads the property and fails with it.</summary>
    internal sealed class Unserializable
    {
        public string Value => throw new InvalidOperationException("this snapshot cannot be serialized");
    }
}

public sealed class SqliteSnapshotStoreTests() : SnapshotStoreTests("sqlite")
{
    /// <summary>
    /// Another process holding SQLite's write lock is this store's outage: saves fail after the operation
    /// timeout, and the save whose batch was still waiting for the lock when it failed is not followed by a
    /// delete of the device's snapshot (Akka's clean-up after a failed save) once the lock is gone.
    /// </summary>
    [Fact]
    public async Task A_locked_database_fails_saves_quickly_and_the_store_recovers()
    {
        await using var node = SnapshotNode.Start(Database, "akka.persistence.snapshot-store.batching.operation-timeout = 1s");
        await node.SaveAsync("device-a", "before", timestamp: DateTime.MinValue);
        await using (var locker = new SqliteConnection($"{Database.ConnectionString};Pooling=False"))
        {
            await locker.OpenAsync();
            await using var hold = await locker.BeginTransactionAsync();
            var clock = Stopwatch.StartNew();
            var answer = await node.AskAsync(new SaveSnapshot(new SnapshotMetadata("device-a", 0, DateTime.MinValue), "during"));
            Assert.IsType<SaveSnapshotFailure>(answer);
            Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
        }
        // Whether the abandoned batch still commits or not, the device keeps a snapshot.
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Contains((await node.LoadAsync("device-a"))?.Snapshot, new object[] { "before", "during" });
        await node.SaveAsync("device-a", "after", timestamp: DateTime.MinValue);
        Assert.Equal("after", (await node.LoadAsync("device-a"))?.Snapshot);
    }
}

public sealed class PostgresSnapshotStoreTests() : SnapshotStoreTests("postgresql")
{
    /// <summary>
    /// Counted by the server: every query that reads the table scans it once (by index or sequentially).
    /// A server process reports its counts when it ends, so each node is stopped before counting.
    /// </summary>
    [Fact]
    public async Task Devices_starting_together_are_loaded_by_few_queries()
    {
        const int Devices = 500;
        await using (var node = SnapshotNode.Start(Database))
        {
            await Task.WhenAll(Enumerable.Range(0, Devices).Select(i => node.SaveAsync($"device-{i}", $"state-{i}")));
        }
        var before = await ScansAsync();
        await using (var node = SnapshotNode.Start(Database))
        {
            var loaded = await Task.WhenAll(Enumerable.Range(0, Devices).Select(i => node.LoadAsync($"device-{i}")));
            Assert.All(loaded, Assert.NotNull);
        }
        // A query per load would be 500 (with batch-size = 1 this counts exactly that).
        Assert.InRange(await ScansAsync() - before, 1, Devices / 20);
    }

    private async Task<long> ScansAsync()
    {
        const string Sql = $"SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = '{SnapshotTable.Name}'";
        // Until the count stops moving: the node's server processes end a moment after its connections close.
        var count = -1L;
        for (var settled = 0; settled < 3;)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(300));
            var now = await Database.CountAsync(Sql);
            settled = now == count ? settled + 1 : 0;
            count = now;
        }
        return count;
    }

    [Fact]
    public async Task A_stopped_server_fails_saves_and_loads_quickly_and_the_store_recovers()
    {
        using var server = new LocalPostgres();
        await server.StartAsync();
        await using var database = await SnapshotDatabase.CreateAsync("postgresql", server.ConnectionString);
        await using var node = SnapshotNode.Start(database, "akka.persistence.snapshot-store.batching.operation-timeout = 1s");
        await node.SaveAsync("device-a", "before");

        await server.StopAsync();
        var clock = Stopwatch.StartNew();
        Assert.IsType<SaveSnapshotFailure>(await node.AskAsync(new SaveSnapshot(new SnapshotMetadata("device-a", 0, DateTime.MinValue), "during")));
        Assert.IsType<LoadSnapshotFailed>(await node.AskAsync(new LoadSnapshot("device-a", SnapshotSelectionCriteria.Latest, long.MaxValue)));
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(10));

        await server.StartAsync();
        // Pooled connections to the old server fail once, and an open breaker refuses for its reset-timeout.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await node.AskAsync(new SaveSnapshot(new SnapshotMetadata("device-a", 0, DateTime.MinValue), "after")) is SaveSnapshotFailure)
        {
            Assert.True(DateTime.UtcNow < deadline, "the store did not recover within 30 s of the server's return");
            await Task.Delay(TimeSpan.FromMilliseconds(500));
        }
        Assert.Equal("after", (await node.LoadAsync("device-a"))?.Snapshot);
    }
}
