using System.Data.Common;
using MetricsCollector.ReadSide;

namespace MetricsCollector.Persistence;

/// <summary>
/// The snapshot store's table, <c>latest_snapshots</c>: one row per persistence id holding its newest
/// snapshot. A save replaces the row unless the row holds a higher sequence number; at the same
/// sequence number (devices persist no events, so theirs is always 0) the later save wins. Writes and
/// reads take many persistence ids at once, in one transaction or one query.
/// </summary>
public abstract class SnapshotTable : IAsyncDisposable
{
    public const string Name = "latest_snapshots";

    /// <summary>Akka.Persistence.Sql's snapshot table under its default table mapping: where this node kept snapshots before.</summary>
    public const string LegacyName = "snapshot";

    protected const string Columns = "persistence_id, sequence_nr, created_ticks, serializer_id, manifest, payload";

    protected const string KeepNewest = $"""
        ON CONFLICT (persistence_id) DO UPDATE SET
          sequence_nr = excluded.sequence_nr, created_ticks = excluded.created_ticks,
          serializer_id = excluded.serializer_id, manifest = excluded.manifest, payload = excluded.payload
        WHERE excluded.sequence_nr >= {Name}.sequence_nr
        """;

    private static readonly string[] LegacyColumns = ["persistence_id", "sequence_number", "created", "snapshot", "manifest", "serializer_id"];

    // Every row Akka.Persistence.Sql held for an id, at its highest sequence number; its created column holds UTC ticks too.
    private static readonly string CopyLegacy = $"""
        INSERT INTO {Name} ({Columns})
        SELECT s.persistence_id, s.sequence_number, s.created, s.serializer_id, COALESCE(s.manifest, ''), s.snapshot
        FROM {LegacyName} s
        WHERE s.snapshot IS NOT NULL AND s.serializer_id IS NOT NULL
          AND s.sequence_number = (SELECT MAX(o.sequence_number) FROM {LegacyName} o WHERE o.persistence_id = s.persistence_id)
        """;

    /// <summary>Copying a large old table runs once, at the first start after an upgrade: far longer than any batch may take.</summary>
    private static readonly TimeSpan CopyTimeout = TimeSpan.FromMinutes(10);

    private readonly SemaphoreSlim _schema = new(1, 1);
    private readonly CancellationTokenSource _closing = new();
    private volatile bool _schemaReady;

    public static SnapshotTable Create(string provider, string connectionString, int? sqliteCheckpointPages = null) => provider switch
    {
        "sqlite" => new SqliteSnapshotTable(connectionString, sqliteCheckpointPages),
        "postgresql" => new PostgresSnapshotTable(connectionString),
        _ => throw new ArgumentException($"unknown snapshot store provider '{provider}': 'sqlite' or 'postgresql'", nameof(provider)),
    };

    /// <summary>The column type of the payload.</summary>
    protected abstract string BinaryType { get; }

    /// <summary>A query of one parameter, <c>@table</c>, answering the names of that table's columns (none when there is no such table).</summary>
    protected abstract string ColumnNamesQuery { get; }

    /// <summary>The condition that selects the rows of the ids bound by <see cref="BindIds"/>.</summary>
    protected abstract string IdsCondition { get; }

    /// <summary>
    /// Creates the table if it is missing, and then, in the same transaction, copies the newest snapshot of
    /// every persistence id from Akka.Persistence.Sql's table when there is one: an upgraded node finds its
    /// devices' snapshots where it now looks, and only once, because only the start that creates the table
    /// copies. A failure leaves nothing behind and the next call tries again. Not under any caller's
    /// token, only the table's own: a copy of a large old table may outlast the batch that started it.
    /// </summary>
    /// <returns>How many snapshots were copied when this call created the table; null when the table was there.</returns>
    public async Task<int?> EnsureSchemaAsync()
    {
        if (_schemaReady) return null;
        var ct = _closing.Token;
        await _schema.WaitAsync(ct);
        try
        {
            if (_schemaReady) return null;
            await using var connection = await OpenAsync(ct);
            await BeforeSchemaAsync(connection, ct);
            await using var transaction = await connection.BeginTransactionAsync(ct);
            await LockSchemaAsync(connection, transaction, ct);
            int? copied = null;
            if ((await ColumnsAsync(connection, transaction, Name, ct)).Count == 0)
            {
                await ExecuteAsync(connection, transaction, $"""
                    CREATE TABLE {Name} (
                      persistence_id TEXT NOT NULL PRIMARY KEY,
                      sequence_nr BIGINT NOT NULL,
                      created_ticks BIGINT NOT NULL,
                      serializer_id INTEGER NOT NULL,
                      manifest TEXT NOT NULL,
                      payload {BinaryType} NOT NULL)
                    """, ct);
                copied = (await ColumnsAsync(connection, transaction, LegacyName, ct)).IsSupersetOf(LegacyColumns)
                    ? await ExecuteAsync(connection, transaction, CopyLegacy, ct, CopyTimeout)
                    : 0;
            }
            await transaction.CommitAsync(ct);
            _schemaReady = true;
            return copied;
        }
        finally
        {
            _schema.Release();
        }
    }

    /// <summary>Writes the rows in one transaction: all of them or none. At most one row per persistence id.</summary>
    public abstract Task WriteAsync(IReadOnlyList<StoredSnapshot> rows, CancellationToken ct);

    /// <summary>The rows of the given persistence ids that exist, in one query.</summary>
    public async Task<IReadOnlyList<StoredSnapshot>> ReadAsync(IReadOnlyList<string> persistenceIds, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection, null, $"SELECT {Columns} FROM {Name} WHERE {IdsCondition}");
        BindIds(command, persistenceIds);
        await using var reader = await command.ExecuteReaderAsync(ct);
        var rows = new List<StoredSnapshot>(persistenceIds.Count);
        while (await reader.ReadAsync(ct))
        {
            rows.Add(new StoredSnapshot(
                reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt32(3), reader.GetString(4), reader.GetFieldValue<byte[]>(5)));
        }
        return rows;
    }

    /// <summary>Deletes the persistence id's row if its sequence number and timestamp (UTC ticks) lie in the given ranges.</summary>
    public async Task DeleteAsync(string persistenceId, (long Min, long Max) sequenceNr, (long Min, long Max) createdTicks, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection, null, $"""
            DELETE FROM {Name} WHERE persistence_id = @id
              AND sequence_nr BETWEEN @min_seq AND @max_seq AND created_ticks BETWEEN @min_created AND @max_created
            """);
        Bind(command, "@id", persistenceId);
        Bind(command, "@min_seq", sequenceNr.Min);
        Bind(command, "@max_seq", sequenceNr.Max);
        Bind(command, "@min_created", createdTicks.Min);
        Bind(command, "@max_created", createdTicks.Max);
        await command.ExecuteNonQueryAsync(ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _closing.CancelAsync();
        await CloseAsync();
        _closing.Dispose();
        GC.SuppressFinalize(this);
    }

    protected abstract ValueTask CloseAsync();

    protected abstract Task<DbConnection> OpenAsync(CancellationToken ct);

    /// <summary>What has to happen before the schema's transaction (SQLite switches to WAL, which it cannot do inside one).</summary>
    protected virtual Task BeforeSchemaAsync(DbConnection connection, CancellationToken ct) => Task.CompletedTask;

    /// <summary>Keeps other nodes out of the schema until this transaction ends.</summary>
    protected abstract Task LockSchemaAsync(DbConnection connection, DbTransaction transaction, CancellationToken ct);

    protected abstract void BindIds(DbCommand command, IReadOnlyList<string> persistenceIds);

    protected static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql, TimeSpan? timeout = null) =>
        DbCommands.Command(connection, transaction, sql, timeout);

    protected static DbParameter Bind(DbCommand command, string name, object value) => DbCommands.Bind(command, name, value);

    protected static async Task<int> ExecuteAsync(DbConnection connection, DbTransaction? transaction, string sql, CancellationToken ct, TimeSpan? timeout = null)
    {
        await using var command = Command(connection, transaction, sql, timeout);
        return await command.ExecuteNonQueryAsync(ct);
    }

    private async Task<HashSet<string>> ColumnsAsync(DbConnection connection, DbTransaction transaction, string table, CancellationToken ct)
    {
        await using var command = Command(connection, transaction, ColumnNamesQuery);
        Bind(command, "@table", table);
        await using var reader = await command.ExecuteReaderAsync(ct);
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        while (await reader.ReadAsync(ct)) names.Add(reader.GetString(0));
        return names;
    }
}
