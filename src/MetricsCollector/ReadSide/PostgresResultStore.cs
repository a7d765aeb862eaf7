using System.Data.Common;
using System.Globalization;
using MetricsCollector.Core.Windows;
using Npgsql;

namespace MetricsCollector.ReadSide;

/// <summary>The cluster store: every node reads and writes the same PostgreSQL database.</summary>
public sealed class PostgresResultStore : SqlResultStore
{
    // Any constant shared by all nodes: it only has to differ from other advisory locks in the same database.
    private const long SchemaLockId = 0x4D43_5245_4144; // "MCREAD"

    // Another constant of the same kind, for the one node at a time that deletes expired rows.
    private const long RetentionLockId = 0x4D43_5245_544E; // "MCRETN"

    private readonly NpgsqlDataSource _dataSource;

    private readonly int _fillFactor;

    /// <param name="connectionString">The database's.</param>
    /// <param name="fillFactor">
    /// The percentage of each page of rows and parts that inserts fill (PostgreSQL's default is 100). The rest
    /// keeps a row's later forms on its page, and an update there that changes no indexed column (a row made
    /// final at the same revision: two thirds of the updates in the drain benchmark) writes none of the row's
    /// seven index entries again.
    /// </param>
    public PostgresResultStore(string connectionString, int fillFactor = 100)
        : base(singleWriter: false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(fillFactor, 10);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(fillFactor, 100);
        _dataSource = NpgsqlDataSource.Create(connectionString);
        _fillFactor = fillFactor;
    }

    // The array parameters of a part's columns, in the order of PartColumns (a row's are the first of them).
    private static readonly string PartArrays = ParametersOf(PartColumns);

    private static readonly string RowArrays = ParametersOf(Columns);

    // The produced rows' columns are named apart from the outbox's, which the shared rule names unqualified.
    private static readonly string DeleteProducedSql = $"""
        DELETE FROM results_outbox
        USING unnest(@device_id, @window_end, @revision, @final) AS p(produced_device_id, produced_window_end, produced_revision, produced_final)
        WHERE device_id = produced_device_id AND window_end = produced_window_end AND {ProducedCovers("produced_revision", "produced_final")}
        """;

    protected override string TextKeyType => "TEXT COLLATE \"C\"";

    // Nodes start together; CREATE ... IF NOT EXISTS is not safe against a concurrent CREATE of the same
    // name (it fails on the catalog's unique index), so the schema is created under a transaction-scoped lock.
    protected override IEnumerable<string> SchemaPreamble => [$"SELECT pg_advisory_xact_lock({SchemaLockId})"];

    protected override string ExplainPrefix => "EXPLAIN";

    // The tables whose rows are updated in place, and so take the fill factor.
    private static readonly string[] UpdatedTables = ["window_results", "window_parts"];

    // Set at every start, so a changed setting holds for the pages filled from then on.
    protected override IEnumerable<string> SchemaSettings =>
        UpdatedTables.Select(table => string.Create(CultureInfo.InvariantCulture, $"ALTER TABLE {table} SET (fillfactor = {_fillFactor})"));

    // ctid = ANY(ARRAY(...)) is a TID scan. Writers lock rows in key order and retention picks them in window_end
    // order: skipping what a writer holds, rather than waiting for it, keeps the two from ever deadlocking and
    // retention from ever waiting.
    protected override string PickedRows(string table, string selection) =>
        $"ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE {selection} FOR UPDATE SKIP LOCKED))";

    protected override (string TryTake, string Release)? RetentionLockSql =>
        ($"SELECT pg_try_advisory_lock({RetentionLockId})", $"SELECT pg_advisory_unlock({RetentionLockId})");

    protected override async Task<DbConnection> OpenAsync(CancellationToken ct) =>
        await _dataSource.OpenConnectionAsync(ct);

    // Npgsql marks as transient what passes with time: refused or broken connections, timeouts, and the
    // server's own "shutting down" and "starting up" errors.
    protected override bool IsUnavailable(Exception exception) => exception is NpgsqlException { IsTransient: true };

    protected override string BinaryType => "BYTEA";

    protected override string KeysSource => "unnest(@key_device_id, @key_window_end) AS k(device_id, window_end)";

    protected override void BindKeys(DbCommand command, IReadOnlyList<(string DeviceId, long WindowEnd)> keys)
    {
        Bind(command, "@key_device_id", keys.Select(k => k.DeviceId).ToArray());
        Bind(command, "@key_window_end", keys.Select(k => k.WindowEnd).ToArray());
    }

    /// <summary>
    /// The whole batch in one statement: one array per column, turned back into rows by unnest. One round
    /// trip and one fixed statement text whatever the batch size, where a multi-row VALUES list changes
    /// text with every size and stops at PostgreSQL's 65,535 parameters (4,681 rows of 14 columns).
    /// </summary>
    protected override async Task WriteRowsAsync(
        DbConnection connection,
        DbTransaction transaction,
        IReadOnlyList<WindowResult> rows,
        IReadOnlyList<KeptPart>? kept,
        ISet<(string DeviceId, long WindowEnd)> taken,
        CancellationToken ct)
    {
        // RETURNING names the rows inserted or updated, not those the rule kept as they were.
        var sql = kept is null
            ? UpsertRowsSql($"SELECT * FROM unnest({RowArrays})")
            : UpsertRowsWithPartSql($"SELECT * FROM unnest({PartArrays})");
        await using var command = Command(connection, transaction, sql + " RETURNING device_id, window_end");
        BindRowArrays(command, rows);
        if (kept is not null)
        {
            Bind(command, "@kafka_partition", kept.Select(k => k.Partition).ToArray());
            Bind(command, "@digest", kept.Select(k => k.Digest).ToArray());
        }

        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            taken.Add((reader.GetString(0), reader.GetInt64(1)));
        }
    }

    /// <summary>Like the rows: one statement of arrays.</summary>
    protected override async Task WritePartsAsync(
        DbConnection connection, DbTransaction transaction, IReadOnlyList<WindowPart> parts, CancellationToken ct)
    {
        await using var command = Command(
            connection,
            transaction,
            UpsertPartsSql($"SELECT * FROM unnest({PartArrays})"));
        BindRowArrays(command, parts.Select(p => p.Row).ToList());
        Bind(command, "@kafka_partition", parts.Select(p => p.Partition).ToArray());
        Bind(command, "@digest", parts.Select(p => p.Digest).ToArray());
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Like the rows: one statement of arrays.</summary>
    protected override async Task NoteOwedAsync(
        DbConnection connection, DbTransaction transaction, IReadOnlyList<WindowResult> stored, CancellationToken ct)
    {
        await using var command = Command(connection, transaction, NoteOwedSql("SELECT * FROM unnest(@device_id, @window_end, @revision, @final)"));
        BindRevisionArrays(command, stored);
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// The whole batch in one statement of arrays, like the rows: a statement per row made the server parse
    /// and plan each one. Two produced forms of one window delete its outbox row if either covers it, as they
    /// would one after the other.
    /// </summary>
    protected override async Task DeleteProducedAsync(
        DbConnection connection, DbTransaction transaction, IReadOnlyList<WindowResult> produced, CancellationToken ct)
    {
        // A backlog's drain fills the outbox, and for a batch of thousands of rows the planner then hashes the
        // whole outbox, reading all of it, where a probe of its key per produced row reads a fraction (a third of
        // the time at 2,000 rows against 100,000 owed). This transaction runs nothing else.
        await using (var probe = Command(connection, transaction, "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off"))
        {
            await probe.ExecuteNonQueryAsync(ct);
        }

        await using var command = Command(connection, transaction, DeleteProducedSql);
        BindRevisionArrays(command, produced);
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Binds what the outbox keeps of each row, an array a column: @device_id, @window_end, @revision, @final.</summary>
    private static void BindRevisionArrays(DbCommand command, IReadOnlyList<WindowResult> rows)
    {
        Bind(command, "@device_id", rows.Select(r => r.DeviceId).ToArray());
        Bind(command, "@window_end", rows.Select(r => r.WindowEnd).ToArray());
        Bind(command, "@revision", rows.Select(r => r.Revision).ToArray());
        Bind(command, "@final", rows.Select(r => r.Final).ToArray());
    }

    protected override ValueTask DisposeCoreAsync() => _dataSource.DisposeAsync();

    private static void BindRowArrays(DbCommand command, IReadOnlyList<WindowResult> rows)
    {
        Bind(command, "@device_id", rows.Select(r => r.DeviceId).ToArray());
        Bind(command, "@window_end", rows.Select(r => r.WindowEnd).ToArray());
        Bind(command, "@window_start", rows.Select(r => r.WindowStart).ToArray());
        Bind(command, "@p50", rows.Select(r => r.P50).ToArray());
        Bind(command, "@p90", rows.Select(r => r.P90).ToArray());
        Bind(command, "@p95", rows.Select(r => r.P95).ToArray());
        Bind(command, "@p99", rows.Select(r => r.P99).ToArray());
        Bind(command, "@min", rows.Select(r => r.Min).ToArray());
        Bind(command, "@max", rows.Select(r => r.Max).ToArray());
        Bind(command, "@mean", rows.Select(r => r.Mean).ToArray());
        Bind(command, "@count", rows.Select(r => r.Count).ToArray());
        Bind(command, "@revision", rows.Select(r => r.Revision).ToArray());
        Bind(command, "@final", rows.Select(r => r.Final).ToArray());
        Bind(command, "@last_updated", rows.Select(r => r.LastUpdated).ToArray());
        Bind(command, "@p50_low", rows.Select(r => r.Bounds.P50.Low).ToArray());
        Bind(command, "@p50_high", rows.Select(r => r.Bounds.P50.High).ToArray());
        Bind(command, "@p90_low", rows.Select(r => r.Bounds.P90.Low).ToArray());
        Bind(command, "@p90_high", rows.Select(r => r.Bounds.P90.High).ToArray());
        Bind(command, "@p95_low", rows.Select(r => r.Bounds.P95.Low).ToArray());
        Bind(command, "@p95_high", rows.Select(r => r.Bounds.P95.High).ToArray());
        Bind(command, "@p99_low", rows.Select(r => r.Bounds.P99.Low).ToArray());
        Bind(command, "@p99_high", rows.Select(r => r.Bounds.P99.High).ToArray());
    }
}
