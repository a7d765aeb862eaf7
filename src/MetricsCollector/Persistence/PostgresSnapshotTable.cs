using System.Data.Common;
using Npgsql;
using NpgsqlTypes;

namespace MetricsCollector.Persistence;

/// <summary>The snapshot table in PostgreSQL, shared by every node of the cluster.</summary>
public sealed class PostgresSnapshotTable(string connectionString) : SnapshotTable
{
    /// <summary>
    /// An arbitrary key shared by every node on this database: two sessions running CREATE TABLE IF NOT
    /// EXISTS together can fail (a duplicate key in pg_type), and two nodes must not both copy the old table.
    /// </summary>
    private const long SchemaLockKey = 0x4D435F534E4150;

    private readonly NpgsqlDataSource _source = NpgsqlDataSource.Create(connectionString);

    protected override string BinaryType => "BYTEA";

    protected override string ColumnNamesQuery =>
        "SELECT column_name::text FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = @table";

    protected override string IdsCondition => "persistence_id = ANY(@ids)";

    protected override void BindIds(DbCommand command, IReadOnlyList<string> persistenceIds) =>
        ((NpgsqlCommand)command).Parameters.Add(new NpgsqlParameter<string[]>("ids", [.. persistenceIds]));

    /// <summary>One statement for the whole batch (the rows travel as arrays), so one round trip and one commit.</summary>
    public override async Task WriteAsync(IReadOnlyList<StoredSnapshot> rows, CancellationToken ct)
    {
        await using var connection = await _source.OpenConnectionAsync(ct);
        await using var command = new NpgsqlCommand($"""
            INSERT INTO {Name} ({Columns})
            SELECT * FROM unnest(@ids, @seqs, @created, @serializers, @manifests, @payloads)
            {KeepNewest}
            """, connection);
        command.Parameters.Add(new NpgsqlParameter<string[]>("ids", rows.Select(r => r.PersistenceId).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<long[]>("seqs", rows.Select(r => r.SequenceNr).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<long[]>("created", rows.Select(r => r.CreatedTicks).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<int[]>("serializers", rows.Select(r => r.SerializerId).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<string[]>("manifests", rows.Select(r => r.Manifest).ToArray()));
        command.Parameters.Add(new NpgsqlParameter<byte[][]>("payloads", rows.Select(r => r.Payload).ToArray()) { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea });
        await command.ExecuteNonQueryAsync(ct);
    }

    protected override ValueTask CloseAsync() => _source.DisposeAsync();

    protected override async Task<DbConnection> OpenAsync(CancellationToken ct) => await _source.OpenConnectionAsync(ct);

    protected override async Task LockSchemaAsync(DbConnection connection, DbTransaction transaction, CancellationToken ct)
    {
        await using var command = Command(connection, transaction, $"SELECT pg_advisory_xact_lock({SchemaLockKey})");
        await command.ExecuteNonQueryAsync(ct);
    }
}
