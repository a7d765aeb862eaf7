using System.Buffers;
using System.Data.Common;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
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
    /// Row by row through one prepared statement: SQLite runs in-process, so a statement per row costs
    /// microseconds and the transaction around the batch is what makes it fast (one commit, one fsync).
    /// </summary>
    protected override async Task WriteRowsAsync(
        DbConnection connection, DbTransaction transaction, IReadOnlyList<WindowResult> rows, CancellationToken ct)
    {
        await using var command = Command(
            connection, transaction, $"INSERT INTO window_results ({Columns}) VALUES ({RowParameters.Names}) {OnConflictUpdate}");
        var parameters = new RowParameters(command);
        foreach (var row in rows)
        {
            parameters.Set(row);
            await command.ExecuteNonQueryAsync(ct);
        }
    }

    /// <summary>Like the rows: one prepared statement, a part at a time.</summary>
    protected override async Task WritePartsAsync(
        DbConnection connection, DbTransaction transaction, IReadOnlyList<WindowPart> parts, CancellationToken ct)
    {
        await using var command = Command(
            connection,
            transaction,
            $"INSERT INTO window_parts ({PartColumns}) VALUES ({RowParameters.Names}, @kafka_partition, @digest) {OnPartConflictUpdate}");
        var parameters = new RowParameters(command);
        var partition = Bind(command, "@kafka_partition", 0);
        var digest = Bind(command, "@digest", Array.Empty<byte>());
        foreach (var part in parts)
        {
            parameters.Set(part.Row);
            partition.Value = part.Partition;
            digest.Value = part.Digest;
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

    /// <summary>The parameters of a row's columns in one prepared statement, set row after row.</summary>
    private sealed class RowParameters
    {
        public const string Names =
            "@device_id, @window_end, @window_start, @p50, @p90, @p95, @p99, @min, @max, @mean, @count, @revision, @final, @last_updated, "
            + "@p50_low, @p50_high, @p90_low, @p90_high, @p95_low, @p95_high, @p99_low, @p99_high";

        private readonly DbParameter _deviceId, _windowEnd, _windowStart, _p50, _p90, _p95, _p99, _min, _max, _mean, _count, _revision, _final, _lastUpdated;
        private readonly DbParameter[] _bounds;

        public RowParameters(DbCommand command)
        {
            _deviceId = Bind(command, "@device_id", string.Empty);
            _windowEnd = Bind(command, "@window_end", 0L);
            _windowStart = Bind(command, "@window_start", 0L);
            _p50 = Bind(command, "@p50", 0d);
            _p90 = Bind(command, "@p90", 0d);
            _p95 = Bind(command, "@p95", 0d);
            _p99 = Bind(command, "@p99", 0d);
            _min = Bind(command, "@min", 0d);
            _max = Bind(command, "@max", 0d);
            _mean = Bind(command, "@mean", 0d);
            _count = Bind(command, "@count", 0L);
            _revision = Bind(command, "@revision", 0);
            _final = Bind(command, "@final", false);
            _lastUpdated = Bind(command, "@last_updated", 0L);
            _bounds = Array.ConvertAll(Names.Split(", ")[14..], name => Bind(command, name, 0d));
        }

        public void Set(WindowResult row)
        {
            _deviceId.Value = row.DeviceId;
            _windowEnd.Value = row.WindowEnd;
            _windowStart.Value = row.WindowStart;
            _p50.Value = row.P50;
            _p90.Value = row.P90;
            _p95.Value = row.P95;
            _p99.Value = row.P99;
            _min.Value = row.Min;
            _max.Value = row.Max;
            _mean.Value = row.Mean;
            _count.Value = row.Count;
            _revision.Value = row.Revision;
            _final.Value = row.Final;
            _lastUpdated.Value = row.LastUpdated;
            var bounds = row.Bounds;
            _bounds[0].Value = bounds.P50.Low;
            _bounds[1].Value = bounds.P50.High;
            _bounds[2].Value = bounds.P90.Low;
            _bounds[3].Value = bounds.P90.High;
            _bounds[4].Value = bounds.P95.Low;
            _bounds[5].Value = bounds.P95.High;
            _bounds[6].Value = bounds.P99.Low;
            _bounds[7].Value = bounds.P99.High;
        }
    }
}
