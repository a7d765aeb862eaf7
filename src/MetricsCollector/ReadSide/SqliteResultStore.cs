using System.Buffers;
using System.Data.Common;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using MetricsCollector.Configuration;
using MetricsCollector.Core.Windows;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace MetricsCollector.ReadSide;

/// <summary>
/// The embedded store: one SQLite file, in WAL mode so that API reads never wait for the projection's writes,
/// with writes serialized in-process (SQLite takes one writer at a time anyway; queueing here is cheaper than
/// spinning on SQLITE_BUSY).
/// </summary>
public sealed class SqliteResultStore : SqlResultStore
{
    private static readonly string RowValues = PositionalValues(Columns);

    private static readonly string PartValues = PositionalValues(PartColumns);

    private static readonly string ProducedSql =
        $"DELETE FROM results_outbox WHERE device_id = ?1 AND window_end = ?2 AND {ProducedCovers("?3", "?4")}";

    // One row of the outbox note. WHERE true: SQLite needs it to read ON CONFLICT after a SELECT as the upsert's,
    // not as a join's constraint.
    private static readonly string NoteSql = NoteOwedSql("SELECT ?1, ?2, ?3, ?4 WHERE true");

    // The final form of the stored revision where the ranked figures (the top-N indexes' columns, from the same
    // list that makes the indexes) are the same: what the upsert would store, with only columns no index holds
    // in its SET list. Parameters in the order Values.AddFinalized binds them.
    private static readonly string FinalizeSql = Finalize(kept: false);

    // The same for a row written with the part it keeps: its digest too (no index holds it), and only over a row
    // that keeps the same partition's part, as the upsert's rule for such rows (SqlResultStore.UpsertRowsWithPartSql).
    private static readonly string FinalizeKeptSql = Finalize(kept: true);

    private static string Finalize(bool kept)
    {
        var rankedFrom = 16;
        var digest = rankedFrom + Rankable.Length;
        return $"""
            UPDATE window_results SET final = 1, last_updated = ?4, window_start = ?5, min = ?6, count = ?7,
                p50_low = ?8, p50_high = ?9, p90_low = ?10, p90_high = ?11, p95_low = ?12, p95_high = ?13, p99_low = ?14, p99_high = ?15{(kept ? $", digest = ?{digest}" : "")}
            WHERE device_id = ?1 AND window_end = ?2 AND revision = ?3 AND NOT final
                AND {string.Join(" AND ", Rankable.Select((by, i) => $"{ColumnOf(by)} = ?{rankedFrom + i}"))}{(kept ? $" AND kafka_partition = ?{digest + 1}" : "")}
            """;
    }

    private readonly string _connectionString;

    private readonly string _writerConnectionString;

    // Other processes (a second node pointed at the same file by mistake, the sqlite3 shell) are waited for,
    // not failed on at once. synchronous=NORMAL is the WAL setting that loses no committed data on a process
    // crash, only on a power loss, at a fraction of FULL's fsyncs. The cache and the checkpoint: SqliteSettings.
    private readonly string _connectionPragmas;

    // Pooled connections keep their native handle, and the pragmas stay set on it: running them once per
    // handle rather than once per open keeps a statement off every API read.
    private readonly ConditionalWeakTable<sqlite3, object> _prepared = [];

    public SqliteResultStore(string connectionString, SqliteSettings? tuning = null)
        : base(singleWriter: true)
    {
        tuning ??= SqliteSettings.Default;
        _connectionPragmas = "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; "
            + $"PRAGMA cache_size = {-1024L * tuning.CacheMib}; PRAGMA wal_autocheckpoint = {tuning.CheckpointPages};";
        var builder = new SqliteConnectionStringBuilder(connectionString);
        if (string.IsNullOrEmpty(builder.DataSource) || builder.DataSource == ":memory:" || builder.Mode == SqliteOpenMode.Memory)
        {
            // Every pooled connection would see its own empty database.
            throw new ArgumentException("The SQLite result store needs a file, not an in-memory database.", nameof(connectionString));
        }

        // The embedded mode's default is data/metrics.db under the working directory, which may not exist yet.
        var directory = Path.GetDirectoryName(Path.GetFullPath(builder.DataSource));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        _connectionString = builder.ToString();
        _writerConnectionString = new SqliteConnectionStringBuilder(_connectionString) { Pooling = false }.ToString();
    }

    protected override string TextKeyType => "TEXT";

    protected override string ExplainPrefix => "EXPLAIN QUERY PLAN";

    // Both tables have a rowid (their primary keys are composite), and a rowid IN (...) is a key look-up each.
    // Nothing to skip: this store has one writer at a time.
    protected override string PickedRows(string table, string selection) =>
        $"rowid IN (SELECT rowid FROM {table} WHERE {selection})";

    public override async Task EnsureSchemaAsync(CancellationToken ct = default)
    {
        // WAL cannot be switched on inside a transaction, so it goes before the schema's. The journal mode
        // is stored in the file: setting it once here holds for every later connection.
        await using (var connection = (SqliteConnection)await OpenAsync(ct))
        {
            await using var command = Command(connection, null, "PRAGMA journal_mode = WAL");
            await command.ExecuteNonQueryAsync(ct);
        }

        await base.EnsureSchemaAsync(ct);
    }

    protected override Task<DbConnection> OpenAsync(CancellationToken ct) => OpenAsync(_connectionString, pooled: true, ct);

    /// <summary>
    /// Outside the pool, with its pragmas set on every open: the snapshot table shares the pool and sets its own
    /// (synchronous=FULL) on the connections it takes, so a pooled handle's settings are whatever its last user left,
    /// and rows written on one of those were fsynced every batch. Kept open, it also keeps its page cache, which
    /// SQLite empties only when another connection has committed since (pooled, each batch took whichever came next).
    /// </summary>
    protected override Task<DbConnection> OpenWriterAsync(CancellationToken ct) => OpenAsync(_writerConnectionString, pooled: false, ct);

    private async Task<DbConnection> OpenAsync(string connectionString, bool pooled, CancellationToken ct)
    {
        var connection = new SqliteConnection(connectionString);
        try
        {
            await connection.OpenAsync(ct);
            var handle = connection.Handle!;
            if (!pooled || !_prepared.TryGetValue(handle, out _))
            {
                await using var command = Command(connection, null, _connectionPragmas);
                await command.ExecuteNonQueryAsync(ct);
                _prepared.AddOrUpdate(handle, handle);
            }

            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    protected override bool IsUnavailable(Exception exception) =>
        exception is SqliteException
        {
            SqliteErrorCode: raw.SQLITE_BUSY or raw.SQLITE_LOCKED or raw.SQLITE_CANTOPEN
                or raw.SQLITE_IOERR or raw.SQLITE_FULL,
        };

    protected override string BinaryType => "BLOB";

    // SQLite has no arrays: the keys travel as one JSON array of [device id, window end] pairs.
    protected override string KeysSource =>
        "(SELECT json_extract(value, '$[0]') AS device_id, json_extract(value, '$[1]') AS window_end FROM json_each(@keys)) k";

    protected override void BindKeys(DbCommand command, IReadOnlyList<(string DeviceId, long WindowEnd)> keys)
    {
        var json = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartArray();
            foreach (var (deviceId, windowEnd) in keys)
            {
                writer.WriteStartArray();
                writer.WriteStringValue(deviceId);
                writer.WriteNumberValue(windowEnd);
                writer.WriteEndArray();
            }

            writer.WriteEndArray();
        }

        Bind(command, "@keys", Encoding.UTF8.GetString(json.WrittenSpan));
    }

    /// <summary>
    /// Row by row through one statement prepared per batch and bound by position through SQLite's own API:
    /// SQLite runs in-process, so a statement per row costs microseconds and the transaction around the
    /// batch is what makes it fast (one commit, one fsync). ADO.NET's parameters cost more than SQLite's own
    /// work here (each is looked up by name and marshalled again on every execution), and a multi-row
    /// VALUES statement is slower than either in SQLite (docs/benchmarks.md, "Result writes").
    /// </summary>
    /// <remarks>
    /// A final row at the revision already stored with the same ranked figures (a window closing unchanged: half
    /// of all rows) goes in by an update that leaves the indexed columns out of its SET list. The upsert sets
    /// every column, and SQLite then deletes and inserts the row's entry in each of the six top-N indexes even
    /// where no value changes: about eight times the cost. The stored row is the same either way; any other
    /// row (a later revision, different figures, no row yet) is upserted.
    /// </remarks>
    protected override Task WriteRowsAsync(
        DbConnection connection,
        DbTransaction transaction,
        IReadOnlyList<WindowResult> rows,
        IReadOnlyList<KeptPart>? kept,
        ISet<(string DeviceId, long WindowEnd)> taken,
        CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var db = ((SqliteConnection)connection).Handle!;
        using var statement = Prepare(db, kept is null ? UpsertRowsSql(RowValues) : UpsertRowsWithPartSql(PartValues));
        using var finalize = Prepare(db, kept is null ? FinalizeSql : FinalizeKeptSql);
        for (var i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            var part = kept?[i];
            // A row of a window with several parts in the batch keeps none: the upsert only inserts it where it is new.
            if (row.Final && part is not { Partition: null })
            {
                var same = new Values(db, finalize);
                same.AddFinalized(row);
                if (part is { } finalPart)
                {
                    same.Add(finalPart.Digest!);
                    same.Add(finalPart.Partition!.Value);
                }

                Run(db, finalize);
                if (raw.sqlite3_changes(db) == 1)
                {
                    taken.Add((row.DeviceId, row.WindowEnd));
                    continue;
                }
            }

            var values = new Values(db, statement);
            values.Add(row);
            if (part is { } keptPart) values.Add(keptPart);
            Run(db, statement);
            // An upsert whose rule keeps the stored row changes nothing.
            if (raw.sqlite3_changes(db) == 1) taken.Add((row.DeviceId, row.WindowEnd));
        }

        return Task.CompletedTask;
    }

    /// <summary>Like the rows, a row at a time.</summary>
    protected override Task NoteOwedAsync(
        DbConnection connection, DbTransaction transaction, IReadOnlyList<WindowResult> stored, CancellationToken ct) =>
        RunEach(connection, NoteSql, stored, AddRevision, ct);

    /// <summary>Like the rows, a produced row at a time.</summary>
    protected override Task DeleteProducedAsync(
        DbConnection connection, DbTransaction transaction, IReadOnlyList<WindowResult> produced, CancellationToken ct) =>
        RunEach(connection, ProducedSql, produced, AddRevision, ct);

    /// <summary>Binds what the outbox keeps of a row, in the order of the note's and the produced rows' parameters.</summary>
    private static void AddRevision(Values values, WindowResult row)
    {
        values.Add(row.DeviceId);
        values.Add(row.WindowEnd);
        values.Add(row.Revision);
        values.Add(row.Final ? 1L : 0L);
    }

    /// <summary>Like the rows, a part at a time.</summary>
    protected override Task WritePartsAsync(
        DbConnection connection, DbTransaction transaction, IReadOnlyList<WindowPart> parts, CancellationToken ct) =>
        RunEach(connection, UpsertPartsSql(PartValues), parts, static (values, part) =>
        {
            values.Add(part.Row);
            values.Add(part.Partition);
            values.Add(part.Digest);
        }, ct);

    /// <summary>Runs <paramref name="sql"/> once for each item, prepared once and bound by position by <paramref name="bind"/>.</summary>
    private static Task RunEach<T>(DbConnection connection, string sql, IEnumerable<T> items, Action<Values, T> bind, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var db = ((SqliteConnection)connection).Handle!;
        using var statement = Prepare(db, sql);
        foreach (var item in items)
        {
            bind(new Values(db, statement), item);
            Run(db, statement);
        }

        return Task.CompletedTask;
    }

    protected override ValueTask DisposeCoreAsync()
    {
        // Pooled connections keep the file open; a caller that deletes it afterwards (tests, tools) needs them gone.
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
        return ValueTask.CompletedTask;
    }

    private static string PositionalValues(string columns) =>
        $"VALUES ({string.Join(", ", Enumerable.Range(1, columns.Split(", ").Length).Select(i => "?" + i))})";

    private static sqlite3_stmt Prepare(sqlite3 db, string sql)
    {
        var rc = raw.sqlite3_prepare_v2(db, sql, out var statement);
        if (rc != raw.SQLITE_OK)
        {
            statement.Dispose();
            SqliteException.ThrowExceptionForRC(rc, db);
        }

        return statement;
    }

    /// <summary>Runs a bound statement that returns no rows, and makes it ready for the next values.</summary>
    private static void Run(sqlite3 db, sqlite3_stmt statement)
    {
        var rc = raw.sqlite3_step(statement);
        if (rc != raw.SQLITE_DONE)
        {
            SqliteException.ThrowExceptionForRC(rc, db);
        }

        raw.sqlite3_reset(statement);
    }

    /// <summary>
    /// Binds values to a statement's parameters in their order, as ADO.NET's SQLite provider binds the same
    /// .NET types (a bool is 1 or 0, an int a 64-bit integer), so the stored values do not change.
    /// </summary>
    private struct Values(sqlite3 db, sqlite3_stmt statement)
    {
        private int _next = 1;

        /// <summary>A row's values in <see cref="SqlResultStore.Columns"/> order.</summary>
        public void Add(WindowResult row)
        {
            Add(row.DeviceId);
            Add(row.WindowEnd);
            Add(row.WindowStart);
            Add(row.P50);
            Add(row.P90);
            Add(row.P95);
            Add(row.P99);
            Add(row.Min);
            Add(row.Max);
            Add(row.Mean);
            Add(row.Count);
            Add(row.Revision);
            Add(row.Final ? 1L : 0L);
            Add(row.LastUpdated);
            AddBounds(row.Bounds);
        }

        /// <summary>A final row's values in the order of <see cref="FinalizeSql"/>'s parameters.</summary>
        public void AddFinalized(WindowResult row)
        {
            Add(row.DeviceId);
            Add(row.WindowEnd);
            Add(row.Revision);
            Add(row.LastUpdated);
            Add(row.WindowStart);
            Add(row.Min);
            Add(row.Count);
            AddBounds(row.Bounds);
            foreach (var by in Rankable) Add(by.Figure(row));
        }

        public void Add(string value) => Check(raw.sqlite3_bind_text(statement, _next++, value));

        public void Add(long value) => Check(raw.sqlite3_bind_int64(statement, _next++, value));

        public void Add(double value) => Check(raw.sqlite3_bind_double(statement, _next++, value));

        public void Add(byte[] value) => Check(raw.sqlite3_bind_blob(statement, _next++, value));

        /// <summary>The part a row keeps, in the order of <see cref="SqlResultStore.PartColumns"/>' last two: partition, digest (NULL both where it keeps none).</summary>
        public void Add(KeptPart part)
        {
            if (part is { Partition: { } partition, Digest: { } digest })
            {
                Add(partition);
                Add(digest);
                return;
            }

            Check(raw.sqlite3_bind_null(statement, _next++));
            Check(raw.sqlite3_bind_null(statement, _next++));
        }

        private void AddBounds(PercentileBounds bounds)
        {
            Add(bounds.P50.Low);
            Add(bounds.P50.High);
            Add(bounds.P90.Low);
            Add(bounds.P90.High);
            Add(bounds.P95.Low);
            Add(bounds.P95.High);
            Add(bounds.P99.Low);
            Add(bounds.P99.High);
        }

        private readonly void Check(int rc)
        {
            if (rc != raw.SQLITE_OK)
            {
                SqliteException.ThrowExceptionForRC(rc, db);
            }
        }
    }
}
