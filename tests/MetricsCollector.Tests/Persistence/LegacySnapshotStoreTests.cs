using Akka.Configuration;
using Akka.Persistence;
using MetricsCollector.Persistence;

namespace MetricsCollector.Tests.Persistence;

/// <summary>Nodes kept snapshots with Akka.Persistence.Sql before: what an upgraded node finds of them, and why that plugin went.</summary>
public sealed class LegacySnapshotStoreTests
{
    private static readonly DateTime T0 = new(2026, 11, 30, 8, 0, 0, DateTimeKind.Utc);

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgresql")]
    public async Task An_upgraded_node_loads_the_newest_snapshot_the_old_plugin_kept(string provider)
    {
        await using var database = await SnapshotDatabase.CreateAsync(provider);
        await using (var old = LegacyNode(database))
        {
            await old.SaveAsync("device-a", "a1", sequenceNr: 1, timestamp: T0);
            await old.SaveAsync("device-a", "a2", sequenceNr: 2, timestamp: T0.AddTicks(1));
            await old.SaveAsync("device-b", "b", timestamp: T0);
        }

        await using (var node = SnapshotNode.Start(database))
        {
            var a = await node.LoadAsync("device-a");
            Assert.Equal(("a2", new SnapshotMetadata("device-a", 2, T0.AddTicks(1))), (a?.Snapshot, a?.Metadata));
            Assert.Equal("b", (await node.LoadAsync("device-b"))?.Snapshot);
            Assert.Null(await node.LoadAsync("device-c"));
            await node.SaveAsync("device-b", "b-new");
        }
        Assert.Equal(2, await database.CountAsync($"SELECT count(*) FROM {SnapshotTable.Name}"));

        // Only the start that creates the table copies: a later start keeps what this store wrote since.
        await using var restarted = SnapshotNode.Start(database);
        Assert.Equal("b-new", (await restarted.LoadAsync("device-b"))?.Snapshot);
    }

    /// <summary>Nodes of a cluster start together: one creates the table and copies, the others wait for it and find the copy.</summary>
    [Fact]
    public async Task Nodes_starting_together_on_PostgreSQL_create_the_table_and_copy_once()
    {
        await using var database = await SnapshotDatabase.CreateAsync("postgresql");
        await using (var old = LegacyNode(database))
        {
            foreach (var i in Enumerable.Range(0, 50)) await old.SaveAsync($"device-{i}", $"old-{i}", timestamp: T0);
        }

        var nodes = Enumerable.Range(0, 4).Select(_ => SnapshotNode.Start(database)).ToArray();
        try
        {
            var loaded = await Task.WhenAll(nodes.Select((node, n) => node.LoadAsync($"device-{n}")));
            Assert.Equal(["old-0", "old-1", "old-2", "old-3"], loaded.Select(s => s?.Snapshot));
        }
        finally
        {
            foreach (var node in nodes) await node.DisposeAsync();
        }
        Assert.Equal(50, await database.CountAsync($"SELECT count(*) FROM {SnapshotTable.Name}"));
    }

    /// <summary>
    /// The loss this store prevents (<see cref="SnapshotStoreTests.A_failed_save_leaves_the_previous_snapshot"/>),
    /// shown on the plugin nodes used before: if Akka.Persistence.Sql ever stops deleting here, this fails and the
    /// reason for the guard is gone.
    /// </summary>
    [Fact]
    public async Task Akka_Persistence_Sql_deletes_a_devices_snapshot_after_a_failed_save()
    {
        await using var database = await SnapshotDatabase.CreateAsync("sqlite");
        await using var old = LegacyNode(database);
        await old.SaveAsync("device-a", "good", timestamp: DateTime.MinValue);
        var failure = await old.AskAsync(new SaveSnapshot(new SnapshotMetadata("device-a", 0, DateTime.MinValue), new SnapshotStoreTests.Unserializable()));
        Assert.IsType<SaveSnapshotFailure>(failure);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (await old.LoadAsync("device-a") is not null)
        {
            Assert.True(DateTime.UtcNow < deadline, "Akka.Persistence.Sql kept the snapshot after a failed save");
            await Task.Delay(100);
        }
    }

    private static SnapshotNode LegacyNode(SnapshotDatabase database) => SnapshotNode.Start(
        ConfigurationFactory.ParseString($$"""
            akka.persistence.snapshot-store {
              plugin = "akka.persistence.snapshot-store.sql"
              sql {
                connection-string = {{System.Text.Json.JsonSerializer.Serialize(database.ConnectionString)}}
                provider-name = "{{database.LegacyProviderName}}"
                auto-initialize = on
              }
            }
            """).WithFallback(Akka.Persistence.Sql.SqlPersistence.DefaultConfiguration));
}
