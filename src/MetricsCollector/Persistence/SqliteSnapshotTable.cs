using System.Data.Common;
using System.Text.Json;
using MetricsCollector.Configuration;
using Microsoft.Data.Sqlite;

namespace MetricsCollector.Persistence;

/// <summary>The snapshot table in the embedded store's SQLite file.</summary>
public sealed class SqliteSnapshotTable : SnapshotTable
{
    private readonly string _connectionString;

    // synchronous=FULL, unlike the result store's NORMAL: a committed snapshot lets Kafka commit past what
    // it holds, so it must survive a power loss too; batches make that one fsync per batch, not per device.
    // The checkpoint as the result store's (SqliteSettings.CheckpointPages): whichever writer commits past it copies.
    private readonly string _connectionPragmas;

    public SqliteSnapshotTable(string connectionString, int? checkpointPages = null)
    {
        _connectionPragmas = "PRAGMA busy_timeout = 5000; PRAGMA synchronous = FULL; "
            + $"PRAGMA wal_autocheckpoint = {checkpointPages ?? SqliteSettings.Default.CheckpointPages};";
        var builder = new SqliteConnectionStringBuilder(connectionString);
        var directory = Path.GetDirectoryName(Path.GetFullPath(builder.DataSource));
        if (!string.IsNullOrEmpty(directory)) Directory.CreateDirectory(directory);
        _connectionString = builder.ToString();
    }

    protected override string BinaryType => "BLOB";

    protected override string ColumnNamesQuery => "SELECT name FROM pragma_table_info(@table)";

    // SQLite has no arrays: the ids travel as one JSON array, and one prepared statement serves every batch.
    protected override string IdsCondition => "persistence_id IN (SELECT value FROM json_each(@ids))";

    protected override void BindIds(DbCommand command, IReadOnlyList<string> persistenceIds) =>
        Bind(command, "@ids", JsonSerializer.Serialize(persistenceIds));

    /// <summary>
    /// Row by row through one prepared statement inside one transaction: SQLite runs in-process, so a
    /// statement costs microseconds; the commit (and its fsync) is what a batch shares.
    /// </summary>
    public override async Task WriteAsync(IReadOnlyList<StoredSnapshot> rows, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await using var command = Command(connection, transaction, $"""
            INSERT INTO {Name} ({Columns}) VALUES (@id, @seq, @created, @serializer, @manifest, @payload)
            {KeepNewest}
            """);
        var id = Bind(command, "@id", "");
        var seq = Bind(command, "@seq", 0L);
        var created = Bind(command, "@created", 0L);
        var serializer = Bind(command, "@serializer", 0);
        var manifest = Bind(command, "@manifest", "");
        var payload = Bind(command, "@payload", Array.Empty<byte>());
        foreach (var row in rows)
        {
            id.Value = row.PersistenceId;
            seq.Value = row.SequenceNr;
            created.Value = row.CreatedTicks;
            serializer.Value = row.SerializerId;
            manifest.Value = row.Manifest;
            payload.Value = row.Payload;
            await command.ExecuteNonQueryAsync(ct);
        }
        await transaction.CommitAsync(ct);
    }

    protected override ValueTask CloseAsync() => ValueTask.CompletedTask;

    protected override async Task<DbConnection> OpenAsync(CancellationToken ct)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(ct);
            await ExecuteAsync(connection, null, _connectionPragmas, ct);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    // The result store sets WAL too; whichever comes first, the file keeps it.
    protected override Task BeforeSchemaAsync(DbConnection connection, CancellationToken ct) =>
        ExecuteAsync(connection, null, "PRAGMA journal_mode = WAL", ct);

    // BEGIN IMMEDIATE (Microsoft.Data.Sqlite's default) already holds the file's write lock.
    protected override Task LockSchemaAsync(DbConnection connection, DbTransaction transaction, CancellationToken ct) => Task.CompletedTask;
}
