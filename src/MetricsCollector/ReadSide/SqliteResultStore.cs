using System.Data.Common;
using System.Runtime.CompilerServices;
using MetricsCollector.Core.Windows;
using Microsoft.Data.Sqlite;

namespace MetricsCollector.ReadSide;

/// <summary>
/// The embedded store: one SQLite file, in WAL mode so that API reads never wait for the projection's writes,
/// with writes serialized in-process (SQLite takes one writer at a time anyway; queueing here is cheaper than
/// spinning on SQLITE_BUSY).
/// </summary>
public sealed class SqliteResultStore : SqlResultStore
{
    // Other processes (a second node pointed at the same file by mistake, the sqlite3 shell) are waited for,
    // not failed on at once. synchronous=NORMAL is the WAL setting that loses no committed data on a process
    // crash, only on a power loss, at a fraction of FULL's fsyncs.
    private const string ConnectionPragmas = "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;";

    private readonly string _connectionString;

    // Pooled connections keep their native handle, and the pragmas stay set on it: running them once per
    // handle rather than once per open keeps a statement off every API read.
    private readonly ConditionalWeakTable<SQLitePCL.sqlite3, object> _prepared = [];

    public SqliteResultStore(string connectionString)
        : base(singleWriter: true)
    {
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
    }

    protected override string TextKeyType => "TEXT";

    protected override string ExplainPrefix => "EXPLAIN QUERY PLAN";

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

    protected override async Task<DbConnection> OpenAsync(CancellationToken ct)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(ct);
            var handle = connection.Handle!;
            if (!_prepared.TryGetValue(handle, out _))
            {
                await using var command = Command(connection, null, ConnectionPragmas);
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
            SqliteErrorCode: SQLitePCL.raw.SQLITE_BUSY or SQLitePCL.raw.SQLITE_LOCKED or SQLitePCL.raw.SQLITE_CANTOPEN
                or SQLitePCL.raw.SQLITE_IOERR or SQLitePCL.raw.SQLITE_FULL,
        };

    /// <summary>
    /// Row by row through one prepared statement: SQLite runs in-process, so a statement per row costs
    /// microseconds and the transaction around the batch is what makes it fast (one commit, one fsync).
    /// </summary>
    protected override async Task WriteRowsAsync(
        DbConnection connection, DbTransaction transaction, IReadOnlyList<WindowResult> rows, CancellationToken ct)
    {
        await using var command = Command(
            connection,
            transaction,
            $"""
            INSERT INTO window_results ({Columns})
            VALUES (@device_id, @window_end, @window_start, @p50, @p90, @p95, @p99, @min, @max, @mean, @count,
                    @revision, @final, @last_updated)
            {OnConflictUpdate}
            """);
        var deviceId = Bind(command, "@device_id", string.Empty);
        var windowEnd = Bind(command, "@window_end", 0L);
        var windowStart = Bind(command, "@window_start", 0L);
        var p50 = Bind(command, "@p50", 0d);
        var p90 = Bind(command, "@p90", 0d);
        var p95 = Bind(command, "@p95", 0d);
        var p99 = Bind(command, "@p99", 0d);
        var min = Bind(command, "@min", 0d);
        var max = Bind(command, "@max", 0d);
        var mean = Bind(command, "@mean", 0d);
        var count = Bind(command, "@count", 0L);
        var revision = Bind(command, "@revision", 0);
        var final = Bind(command, "@final", false);
        var lastUpdated = Bind(command, "@last_updated", 0L);
        foreach (var row in rows)
        {
            deviceId.Value = row.DeviceId;
            windowEnd.Value = row.WindowEnd;
            windowStart.Value = row.WindowStart;
            p50.Value = row.P50;
            p90.Value = row.P90;
            p95.Value = row.P95;
            p99.Value = row.P99;
            min.Value = row.Min;
            max.Value = row.Max;
            mean.Value = row.Mean;
            count.Value = row.Count;
            revision.Value = row.Revision;
            final.Value = row.Final;
            lastUpdated.Value = row.LastUpdated;
            await command.ExecuteNonQueryAsync(ct);
        }
    }

    protected override ValueTask DisposeCoreAsync()
    {
        // Pooled connections keep the file open; a caller that deletes it afterwards (tests, tools) needs them gone.
        using var connection = new SqliteConnection(_connectionString);
        SqliteConnection.ClearPool(connection);
        return ValueTask.CompletedTask;
    }
}
