using System.Data.Common;
using System.Globalization;
using System.Text;
using MetricsCollector.Core.Digests;
using MetricsCollector.Core.Windows;

namespace MetricsCollector.ReadSide;

/// <summary>
/// What both backends share: the schema, every query, the upsert rule and the transaction handling, all in
/// SQL that SQLite and PostgreSQL read alike. A backend supplies connections, the few words where the two
/// dialects differ, and how a batch of rows travels to the server.
/// </summary>
public abstract class SqlResultStore : IResultStore
{
    /// <summary>Column order of every SELECT, matched by <see cref="ReadRow"/>.</summary>
    protected const string Columns =
        "device_id, window_end, window_start, p50, p90, p95, p99, min, max, mean, count, revision, final, last_updated, " + BoundsColumnList;

    /// <summary>Each percentile's bounds (<see cref="PercentileBounds"/>), low and high.</summary>
    private const string BoundsColumnList = "p50_low, p50_high, p90_low, p90_high, p95_low, p95_high, p99_low, p99_high";

    // Where the bounds start in a row's columns, and where a part's own columns start.
    private const int BoundsColumn = 14;
    private const int PartColumn = BoundsColumn + 8;

    /// <summary>Column order of the parts table: a row's columns, then what makes a part a part.</summary>
    protected const string PartColumns = Columns + ", kafka_partition, digest";

    /// <summary>
    /// <see cref="NewerRevisionWins"/> in SQL, its mirror: a stored row changes only for a higher revision,
    /// or for its final form at the same revision. Replays of the same row are no-ops.
    /// </summary>
    private static readonly string OnConflictUpdate = UpsertRule("window_results", "device_id, window_end", Columns);

    /// <summary>The same rule for a part: its partition's actor only ever raises its revision or makes it final.</summary>
    private static readonly string OnPartConflictUpdate = UpsertRule("window_parts", "device_id, window_end, kafka_partition", PartColumns);

    /// <summary>
    /// The rule for a row written with its window's one part (see <see cref="UpsertAsync"/>): as a part's, and only
    /// over a row that keeps a part of the same partition. A row that keeps another partition's part, or none (its
    /// window's parts are in window_parts), is left as it is; the upsert still locks it, and the writer then finds
    /// it shared.
    /// </summary>
    private static readonly string OnKeptConflictUpdate =
        UpsertRule("window_results", "device_id, window_end", PartColumns, also: "window_results.kafka_partition = excluded.kafka_partition");

    private const string LatestSql =
        $"SELECT {Columns} FROM window_results WHERE device_id = @device_id ORDER BY window_end DESC LIMIT 1";

    private const string HistorySql = $"""
        SELECT {Columns} FROM window_results
        WHERE device_id = @device_id AND window_end BETWEEN @from AND @to
        ORDER BY window_end DESC LIMIT @limit
        """;

    private const string RecentWindowEndsSql =
        "SELECT DISTINCT window_end FROM window_results ORDER BY window_end DESC LIMIT @count";

    /// <summary><see cref="PartColumns"/> of the parts table aliased <c>p</c> (before the queries that use it: statics initialise in order).</summary>
    private static readonly string PartColumnsOfP = Aliased("p", PartColumns);

    /// <summary><see cref="PartColumns"/> of the rows table aliased <c>r</c>: a row that keeps its window's one part reads as that part.</summary>
    private static readonly string PartColumnsOfR = Aliased("r", PartColumns);

    // The window's rows through a top-N index (each leads with window_end), and the parts of those that keep none
    // through the parts' primary key: the cost of the window's own rows, never a scan of either table.
    private static readonly string FleetPartsSql = $"""
        SELECT {PartColumnsOfP}
        FROM window_results r
        JOIN window_parts p ON p.device_id = r.device_id AND p.window_end = r.window_end
        WHERE r.window_end = @window_end AND r.kafka_partition IS NULL
        UNION ALL
        SELECT {PartColumns} FROM window_results WHERE window_end = @window_end AND kafka_partition IS NOT NULL
        """;

    // Each key probes the parts' primary key and the rows'.
    private string PartsOfSql => $"""
        SELECT {PartColumnsOfP}
        FROM {KeysSource}
        JOIN window_parts p ON p.device_id = k.device_id AND p.window_end = k.window_end
        WHERE p.kafka_partition = @partition
        UNION ALL
        SELECT {PartColumnsOfR}
        FROM {KeysSource}
        JOIN window_results r ON r.device_id = k.device_id AND r.window_end = k.window_end
        WHERE r.kafka_partition = @partition
        """;

    // The partition of the part each window's row keeps (NULL: it keeps none).
    private string KeptPartitionsSql => $"""
        SELECT r.device_id, r.window_end, r.kafka_partition
        FROM {KeysSource}
        JOIN window_results r ON r.device_id = k.device_id AND r.window_end = k.window_end
        """;

    // A shared window's rows give up the part they kept: it joins the window's other parts.
    private string MoveKeptPartsSql => $"""
        INSERT INTO window_parts ({PartColumns})
        SELECT {PartColumnsOfR}
        FROM {KeysSource}
        JOIN window_results r ON r.device_id = k.device_id AND r.window_end = k.window_end
        WHERE r.kafka_partition IS NOT NULL
        {OnPartConflictUpdate}
        """;

    private string ClearKeptPartsSql => $"""
        UPDATE window_results SET kafka_partition = NULL, digest = NULL
        WHERE kafka_partition IS NOT NULL AND (device_id, window_end) IN (SELECT k.device_id, k.window_end FROM {KeysSource})
        """;

    private static readonly string OwedRowsSql = $"""
        SELECT {Aliased("r", Columns)}
        FROM results_outbox o
        JOIN window_results r ON r.device_id = o.device_id AND r.window_end = o.window_end
        WHERE (NOT r.final AND r.last_updated < @before) OR (r.final AND r.window_end <= @closed_end)
        ORDER BY o.window_end, o.device_id
        LIMIT @limit
        """;

    private const string SaveProgressSql =
        "INSERT INTO progress (name, value) VALUES (@name, @value) ON CONFLICT (name) DO UPDATE SET value = excluded.value";

    private const string LoadProgressSql = "SELECT value FROM progress WHERE name = @name";

    /// <summary>The figures rows are ranked by: each has a top-N index on its column (<see cref="ColumnOf"/>).</summary>
    protected static readonly RankBy[] Rankable = Enum.GetValues<RankBy>();

    // The batch's keys drive the count, so each probes the parts' primary key once, reading only index
    // entries; just the windows counted with more than one part are read whole. A window with one part (every
    // window of keyed producers) costs one index probe and returns nothing, where joining each of its parts to
    // the others cost two probes and a read of the part.
    private string SharedPartsSql => $"""
        SELECT {PartColumnsOfP}
        FROM window_parts p
        WHERE (p.device_id, p.window_end) IN (
            SELECT k.device_id, k.window_end
            FROM {KeysSource}
            JOIN window_parts o ON o.device_id = k.device_id AND o.window_end = k.window_end
            GROUP BY k.device_id, k.window_end
            HAVING count(*) > 1)
        ORDER BY p.device_id, p.window_end, p.kafka_partition
        """;

    // One query per figure, built once: the column name comes from this closed list, never from a client.
    private static readonly string[] TopSql = Rankable
        .Select(by => $"SELECT {Columns} FROM window_results WHERE window_end = @window_end ORDER BY {ColumnOf(by)} DESC, device_id LIMIT @n")
        .ToArray();

    // A single writer per store instance where the backend wants it (SQLite locks the whole file per write).
    private readonly SemaphoreSlim? _writer;

    // A single writer's connection, kept open and used only under _writer, so that its settings and its cache
    // stay its own from one batch to the next (why that matters: the backend's OpenWriterAsync). Dropped after
    // a failed write, whose connection may be broken.
    private DbConnection? _writeConnection;

    protected SqlResultStore(bool singleWriter) => _writer = singleWriter ? new SemaphoreSlim(1, 1) : null;

    /// <summary>
    /// Whether every upsert also notes, in its own transaction, each window it changed as owed to the results
    /// topic (the results_outbox table, until <see cref="ResultsProducedAsync"/>): a row committed but not yet
    /// produced when the node dies is still known to be owed, by any node.
    /// </summary>
    public bool KeepsResultsOutbox { get; init; }

    /// <summary>The column type of text keys: PostgreSQL needs a byte-order collation to sort device ids by
    /// code point as SQLite does (and .NET's ordinal comparison, but for characters beyond U+FFFF), whatever
    /// locale the database was created with.</summary>
    protected abstract string TextKeyType { get; }

    /// <summary>Statements run after the schema in the same transaction: the backend's storage settings of its tables.</summary>
    protected virtual IEnumerable<string> SchemaSettings => [];

    /// <summary>Statements run before the schema in the same transaction (a lock against concurrent nodes).</summary>
    protected virtual IEnumerable<string> SchemaPreamble => [];

    /// <summary>What turns a query into its plan: <c>EXPLAIN QUERY PLAN</c> or <c>EXPLAIN</c>.</summary>
    protected abstract string ExplainPrefix { get; }

    /// <summary>Opens a connection ready for use, pooled by the driver.</summary>
    protected abstract Task<DbConnection> OpenAsync(CancellationToken ct);

    /// <summary>Opens the connection a single writer keeps (see <c>_writeConnection</c>).</summary>
    protected virtual Task<DbConnection> OpenWriterAsync(CancellationToken ct) => OpenAsync(ct);

    /// <summary>Whether a driver exception means the database is out of reach, rather than a faulty query.</summary>
    protected abstract bool IsUnavailable(Exception exception);

    /// <summary>The column type of a part's digest bytes.</summary>
    protected abstract string BinaryType { get; }

    /// <summary>
    /// A FROM-clause item, aliased <c>k</c>, of the (device_id, window_end) keys that <see cref="BindKeys"/>
    /// binds: how the one query per batch that finds shared windows takes the batch's keys.
    /// </summary>
    protected abstract string KeysSource { get; }

    /// <summary>Binds the distinct keys <see cref="KeysSource"/> reads.</summary>
    protected abstract void BindKeys(DbCommand command, IReadOnlyList<(string DeviceId, long WindowEnd)> keys);

    /// <summary>
    /// Upserts <paramref name="rows"/> (unique keys, in key order) inside <paramref name="transaction"/>, adding the
    /// key of each row the store took to <paramref name="taken"/>. With <paramref name="kept"/> (one entry a row) each
    /// row is written with its window's one part in its own columns (<see cref="UpsertRowsWithPartSql"/>; an entry
    /// without a partition writes none); without it, the row's columns alone (<see cref="UpsertRowsSql"/>).
    /// </summary>
    protected abstract Task WriteRowsAsync(
        DbConnection connection,
        DbTransaction transaction,
        IReadOnlyList<WindowResult> rows,
        IReadOnlyList<KeptPart>? kept,
        ISet<(string DeviceId, long WindowEnd)> taken,
        CancellationToken ct);

    /// <summary>The part a row keeps in its own columns: its partition and digest, or none (both null).</summary>
    protected readonly record struct KeptPart(int? Partition, byte[]? Digest);

    /// <summary>
    /// Notes <paramref name="stored"/>, rows this transaction wrote and the store took, as owed to the results topic
    /// at their revision (see <see cref="KeepsResultsOutbox"/>), inside <paramref name="transaction"/>.
    /// </summary>
    protected abstract Task NoteOwedAsync(
        DbConnection connection, DbTransaction transaction, IReadOnlyList<WindowResult> stored, CancellationToken ct);

    /// <summary>
    /// The outbox note, rows given by <paramref name="source"/> as (device_id, window_end, revision, final). A window
    /// noted already takes the later revision: the transaction that wrote it holds the row's lock until it commits,
    /// so notes of one window come in the order their rows were stored.
    /// </summary>
    protected static string NoteOwedSql(string source) => $"""
        INSERT INTO results_outbox (device_id, window_end, revision, final) {source}
        ON CONFLICT (device_id, window_end) DO UPDATE SET revision = excluded.revision, final = excluded.final
        """;

    /// <summary>Writes parts (unique keys, in key order) inside <paramref name="transaction"/>.</summary>
    protected abstract Task WritePartsAsync(
        DbConnection connection,
        DbTransaction transaction,
        IReadOnlyList<WindowPart> parts,
        CancellationToken ct);

    public virtual async Task EnsureSchemaAsync(CancellationToken ct = default) =>
        await WriteAsync(
            async (connection, transaction) =>
            {
                foreach (var sql in SchemaPreamble.Concat(SchemaStatements()).Concat(SchemaSettings))
                {
                    await using var command = Command(connection, transaction, sql);
                    await command.ExecuteNonQueryAsync(ct);
                }

                await AddMissingColumnsAsync(connection, transaction, ct);
            },
            ct);

    /// <summary>
    /// Columns a database made by an earlier version lacks are added empty, so no stored row has to be rewritten:
    /// the bounds (NULL reads back as the row's [min, max], which is certain too), and a row's kept part (NULL: the
    /// window's parts are in window_parts, where every earlier version kept them; see <see cref="UpsertAsync"/>).
    /// New databases get the kept part's columns here too.
    /// </summary>
    private async Task AddMissingColumnsAsync(DbConnection connection, DbTransaction transaction, CancellationToken ct)
    {
        var bounds = BoundsColumnList.Split(", ").Select(c => (Name: c, Type: "DOUBLE PRECISION")).ToArray();
        var wanted = new[]
        {
            (Table: "window_results", Columns: bounds.Concat([(Name: "kafka_partition", Type: "INTEGER"), (Name: "digest", Type: BinaryType)]).ToArray()),
            (Table: "window_parts", Columns: bounds),
        };
        foreach (var (table, columns) in wanted)
        {
            var present = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            await using (var query = Command(connection, transaction, $"SELECT * FROM {table} LIMIT 0"))
            await using (var reader = await query.ExecuteReaderAsync(ct))
            {
                for (var i = 0; i < reader.FieldCount; i++)
                {
                    present.Add(reader.GetName(i));
                }
            }

            foreach (var (column, type) in columns.Where(c => !present.Contains(c.Name)))
            {
                await using var alter = Command(connection, transaction, $"ALTER TABLE {table} ADD COLUMN {column} {type}");
                await alter.ExecuteNonQueryAsync(ct);
            }
        }
    }

    /// <remarks>
    /// <para>
    /// Where a window's parts are: a window whose parts all came from one partition (every window of keyed
    /// producers) keeps its one part in its row (the row's <c>kafka_partition</c> and <c>digest</c>), and
    /// window_parts holds nothing of it; a window with parts from more than one partition, and every window
    /// stored before rows kept parts, has a row without a part (NULL) and all its parts in window_parts, the
    /// row being their merge. A part in the row saves the part's own upsert and the look for other parts: two
    /// of the five statements a stored row cost.
    /// </para>
    /// <para>
    /// The statements run in this order, in one transaction, and the order is what makes two nodes writing
    /// parts of one window (its device's records on partitions consumed by different nodes) end with the
    /// merge of every part:
    /// 1. every row of the batch, in key order, with its window's part where the batch holds one: in PostgreSQL
    ///    an upsert locks each row it meets, even where the WHERE rule keeps it unchanged (or, for a new row,
    ///    makes a concurrent insert of the same key wait), so writers of one window take turns from here to
    ///    their commit. A row keeping a part of the same partition takes the newer revision; a new row keeps
    ///    the part; any other row stays as it is;
    /// 2. the windows that turn out shared: several parts in the batch, or a row that was left as it was and
    ///    keeps another partition's part or none (a query for those rows' partitions, only where step 1 left a
    ///    row of a one-part window as it was: a replay, or a shared window);
    /// 3. for those: a part a row keeps moves into window_parts, the rows are written as before (the newer
    ///    revision rule), the batch's parts join window_parts, one query reads the parts of every window that
    ///    has more than one, and their merged rows are written.
    /// Under READ COMMITTED each statement sees what was committed before it started. The second writer
    /// got the row lock only once the first had committed, so its step 2 sees the part the first left in the
    /// row, or in window_parts, beside its own, and the last writer of a window always writes the merge of all
    /// its parts. SQLite has one writer at a time anyway.
    /// </para>
    /// </remarks>
    public async Task<StoredRows> UpsertAsync(
        IReadOnlyList<WindowPart> parts,
        IReadOnlyCollection<KeyValuePair<string, string>>? progress = null,
        CancellationToken ct = default)
    {
        var batch = Prepare(parts);
        if (batch.Count == 0 && (progress is null || progress.Count == 0))
        {
            return StoredRows.None;
        }

        var rows = OnePerWindow(batch);
        var kept = KeptParts(batch, rows);
        var taken = new HashSet<(string DeviceId, long WindowEnd)>();
        await WriteAsync(
            async (connection, transaction) =>
            {
                // A retried transaction starts over.
                taken.Clear();
                if (batch.Count > 0)
                {
                    await WriteRowsAsync(connection, transaction, rows, kept, taken, ct);
                    var shared = await SharedWindowsAsync(connection, transaction, rows, kept, taken, ct);
                    if (shared.Count > 0)
                    {
                        var windows = shared.ConvertAll(r => (r.DeviceId, r.WindowEnd));
                        await using (var move = KeysCommand(connection, transaction, MoveKeptPartsSql, windows))
                        {
                            await move.ExecuteNonQueryAsync(ct);
                        }

                        await using (var clear = KeysCommand(connection, transaction, ClearKeptPartsSql, windows))
                        {
                            await clear.ExecuteNonQueryAsync(ct);
                        }

                        await WriteRowsAsync(connection, transaction, shared, kept: null, taken, ct);
                        var inShared = windows.ToHashSet();
                        await WritePartsAsync(connection, transaction, batch.FindAll(p => inShared.Contains((p.Row.DeviceId, p.Row.WindowEnd))), ct);
                        var merged = await MergeSharedAsync(connection, transaction, windows, ct);
                        if (merged.Count > 0)
                        {
                            await WriteRowsAsync(connection, transaction, merged, kept: null, taken, ct);
                            Replace(rows, merged);
                        }
                    }

                    // Only what the store took: a row it kept as it was is owed, if at all, as noted when it was stored.
                    if (KeepsResultsOutbox && taken.Count > 0)
                    {
                        await NoteOwedAsync(connection, transaction, taken.Count == rows.Count ? rows : rows.FindAll(r => taken.Contains((r.DeviceId, r.WindowEnd))), ct);
                    }
                }

                foreach (var (key, value) in progress ?? [])
                {
                    await SaveProgressAsync(connection, transaction, key, value, ct);
                }
            },
            ct);
        return new StoredRows(rows, taken.Count == rows.Count ? rows : rows.FindAll(r => taken.Contains((r.DeviceId, r.WindowEnd))));
    }

    public Task<IReadOnlyList<WindowPart>> PartsAsync(
        IReadOnlyList<(string DeviceId, long WindowEnd)> windows, int partition, CancellationToken ct = default) =>
        windows.Count == 0
            ? Task.FromResult<IReadOnlyList<WindowPart>>([])
            : WithConnectionAsync<IReadOnlyList<WindowPart>>(
                async connection =>
                {
                    await using var command = KeysCommand(connection, null, PartsOfSql, windows);
                    Bind(command, "@partition", partition);
                    var parts = new List<WindowPart>(windows.Count);
                    await using var reader = await command.ExecuteReaderAsync(ct);
                    while (await reader.ReadAsync(ct))
                    {
                        parts.Add(ReadPart(reader));
                    }

                    return parts;
                },
                ct);

    public Task<WindowResult?> LatestAsync(string deviceId, CancellationToken ct = default) =>
        WithConnectionAsync(
            async connection =>
            {
                await using var command = LatestCommand(connection, deviceId);
                return (await ReadRowsAsync(command, ct)).FirstOrDefault();
            },
            ct);

    public Task<HistoryPage> HistoryAsync(
        string deviceId,
        long? from,
        long? to,
        int limit,
        HistoryCursor? cursor,
        CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        return WithConnectionAsync(
            async connection =>
            {
                // One row more than asked tells whether another page exists, so the last page has no cursor.
                await using var command = HistoryCommand(connection, deviceId, from, to, limit + 1, cursor);
                var rows = await ReadRowsAsync(command, ct);
                if (rows.Count <= limit)
                {
                    return new HistoryPage(rows, null);
                }

                rows.RemoveAt(limit);
                return new HistoryPage(rows, new HistoryCursor(rows[^1].WindowEnd));
            },
            ct);
    }

    public Task<IReadOnlyList<WindowResult>> TopAsync(long windowEnd, RankBy by, int n, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        return WithConnectionAsync<IReadOnlyList<WindowResult>>(
            async connection =>
            {
                await using var command = TopCommand(connection, windowEnd, by, n);
                return await ReadRowsAsync(command, ct);
            },
            ct);
    }

    public Task<IReadOnlyList<long>> RecentWindowEndsAsync(int count, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        return WithConnectionAsync<IReadOnlyList<long>>(
            async connection =>
            {
                await using var command = Command(connection, null, RecentWindowEndsSql);
                Bind(command, "@count", count);
                var ends = new List<long>(count);
                await using var reader = await command.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    ends.Add(reader.GetInt64(0));
                }

                return ends;
            },
            ct);
    }

    public Task<FleetFigures?> FleetAsync(long windowEnd, CancellationToken ct = default) =>
        WithConnectionAsync(
            async connection =>
            {
                await using var command = FleetPartsCommand(connection, windowEnd);
                var fleet = new FleetMerge();
                await using var reader = await command.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    fleet.Add(ReadPart(reader));
                }

                return fleet.Result();
            },
            ct);

    public Task<IReadOnlyList<WindowResult>> OwedResultsAsync(long lastUpdatedBefore, long closedEnd, int limit, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        return WithConnectionAsync<IReadOnlyList<WindowResult>>(
            async connection =>
            {
                await using var command = Command(connection, null, OwedRowsSql);
                Bind(command, "@before", lastUpdatedBefore);
                Bind(command, "@closed_end", closedEnd);
                Bind(command, "@limit", limit);
                return await ReadRowsAsync(command, ct);
            },
            ct);
    }

    public Task ResultsProducedAsync(IReadOnlyList<WindowResult> produced, CancellationToken ct = default) =>
        produced.Count == 0
            ? Task.CompletedTask
            : WriteAsync((connection, transaction) => DeleteProducedAsync(connection, transaction, produced, ct), ct);

    /// <summary>
    /// Takes off results_outbox what <paramref name="produced"/> covers (<see cref="ProducedCovers"/>), inside
    /// <paramref name="transaction"/>.
    /// </summary>
    protected abstract Task DeleteProducedAsync(
        DbConnection connection, DbTransaction transaction, IReadOnlyList<WindowResult> produced, CancellationToken ct);

    /// <summary>
    /// Whether a produced row, of <paramref name="revision"/> and <paramref name="final"/> (SQL expressions),
    /// covers the outbox's row named by the unqualified columns: a later revision, or the final form of the same
    /// one, stays owed.
    /// </summary>
    protected static string ProducedCovers(string revision, string final) =>
        $"(revision < {revision} OR (revision = {revision} AND (final = {final} OR NOT final)))";

    public Task PingAsync(CancellationToken ct = default) =>
        WithConnectionAsync(
            async connection =>
            {
                await using var command = Command(connection, null, "SELECT 1");
                return await command.ExecuteScalarAsync(ct);
            },
            ct);

    public Task SaveProgressAsync(string key, string value, CancellationToken ct = default) =>
        WriteAsync((connection, transaction) => SaveProgressAsync(connection, transaction, key, value, ct), ct);

    public Task<string?> LoadProgressAsync(string key, CancellationToken ct = default) =>
        WithConnectionAsync(
            async connection =>
            {
                await using var command = Command(connection, null, LoadProgressSql);
                Bind(command, "@name", key);
                return await command.ExecuteScalarAsync(ct) as string;
            },
            ct);

    /// <remarks>
    /// Retention. The rows go first and name the windows whose parts follow, so rows and parts leave in one
    /// transaction and no part outlives its row. The oldest rows are found through an index that leads with
    /// window_end (each top-N index does), so a batch costs its own rows, not a scan of the table.
    /// </remarks>
    public async Task<DeletedRows> DeleteEndedBeforeAsync(long endedBefore, int maxRows, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRows);
        var deleted = default(DeletedRows);
        await WriteAsync(
            async (connection, transaction) =>
            {
                var windows = new List<(string DeviceId, long WindowEnd)>(maxRows);
                // A row that keeps its window's part takes the part with it; the others' parts are in window_parts.
                var parts = 0;
                await using (var rows = ExpiredRowsCommand(connection, transaction, endedBefore, maxRows))
                await using (var reader = await rows.ExecuteReaderAsync(ct))
                {
                    while (await reader.ReadAsync(ct))
                    {
                        if (reader.IsDBNull(2)) windows.Add((reader.GetString(0), reader.GetInt64(1)));
                        else parts++;
                    }
                }

                var rowCount = windows.Count + parts;
                if (windows.Count > 0)
                {
                    await using var command = KeysCommand(connection, transaction, ExpiredPartsSql, windows);
                    parts += await command.ExecuteNonQueryAsync(ct);
                }

                deleted = new DeletedRows(rowCount, parts);
            },
            ct);
        return deleted;
    }

    public async Task<IAsyncDisposable?> TryLockRetentionAsync(CancellationToken ct = default)
    {
        if (RetentionLockSql is not var (tryTake, release))
        {
            return NoLock.Instance;
        }

        // The lock belongs to this connection's session: the connection stays open, outside any transaction, for
        // as long as the lock is held, and a node that dies lets go of the lock with its connection.
        DbConnection? connection = null;
        try
        {
            connection = await OpenAsync(ct);
            await using var command = Command(connection, null, tryTake);
            if (await command.ExecuteScalarAsync(ct) is not true)
            {
                return null;
            }

            var held = new SessionLock(this, connection, release);
            connection = null;
            return held;
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            throw Unreachable(e);
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// A condition that holds for the rows of <paramref name="table"/> that <paramref name="selection"/> (a WHERE
    /// clause with its ORDER BY and LIMIT) picks, by their physical address: the deletion finds them again
    /// without a join, whatever the planner makes of the table's size. Where the backend locks rows, it skips
    /// rows a writer holds rather than waiting for them (a writer that holds a row may be writing its parts).
    /// </summary>
    protected abstract string PickedRows(string table, string selection);

    /// <summary>The statements that try to take (answering true or false at once) and release the session lock
    /// that makes one node at a time delete expired rows; null where one node is all there is.</summary>
    protected virtual (string TryTake, string Release)? RetentionLockSql => null;

    private string ExpiredRowsSql =>
        $"DELETE FROM window_results WHERE {PickedRows("window_results", "window_end < @ended_before ORDER BY window_end LIMIT @max_rows")} RETURNING device_id, window_end, kafka_partition";

    private string ExpiredPartsSql =>
        $"DELETE FROM window_parts WHERE (device_id, window_end) IN (SELECT k.device_id, k.window_end FROM {KeysSource})";

    private DbCommand ExpiredRowsCommand(DbConnection connection, DbTransaction? transaction, long endedBefore, int maxRows)
    {
        var command = Command(connection, transaction, ExpiredRowsSql);
        Bind(command, "@ended_before", endedBefore);
        Bind(command, "@max_rows", maxRows);
        return command;
    }

    /// <summary>The only node's turn, always granted.</summary>
    private sealed class NoLock : IAsyncDisposable
    {
        public static readonly NoLock Instance = new();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    /// <summary>A session lock held by its open connection; disposing releases it and returns the connection.</summary>
    private sealed class SessionLock(SqlResultStore store, DbConnection connection, string release) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            try
            {
                // Explicitly: a pooled connection keeps its session, and with it the lock, until it is used again.
                await using var command = Command(connection, null, release);
                await command.ExecuteNonQueryAsync(CancellationToken.None);
            }
            catch (Exception e) when (store.IsUnavailable(e))
            {
                // The session is gone, and the server let go of the lock with it.
            }
            finally
            {
                await connection.DisposeAsync();
            }
        }
    }

    public virtual async ValueTask DisposeAsync()
    {
        await DropWriteConnectionAsync();
        _writer?.Dispose();
        await DisposeCoreAsync();
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the backend's connections (its pool or data source).</summary>
    protected abstract ValueTask DisposeCoreAsync();

    /// <summary>A setting (an SQLite pragma) of the connection writes run on, read on it under the writer's turn.</summary>
    internal async Task<string?> WriteConnectionSettingAsync(string pragma, CancellationToken ct = default)
    {
        string? value = null;
        await WriteAsync(
            async (connection, transaction) =>
            {
                await using var command = Command(connection, transaction, "PRAGMA " + pragma);
                value = Convert.ToString(await command.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture);
            },
            ct);
        return value;
    }

    internal Task<string> ExplainLatestAsync(string deviceId, CancellationToken ct = default) =>
        ExplainAsync(connection => LatestCommand(connection, deviceId), ct);

    internal Task<string> ExplainHistoryAsync(string deviceId, HistoryCursor? cursor, CancellationToken ct = default) =>
        ExplainAsync(connection => HistoryCommand(connection, deviceId, null, null, 101, cursor), ct);

    internal Task<string> ExplainSharedPartsAsync(IReadOnlyList<(string DeviceId, long WindowEnd)> keys, CancellationToken ct = default) =>
        ExplainAsync(connection => KeysCommand(connection, null, SharedPartsSql, keys), ct);

    internal Task<string> ExplainFleetAsync(long windowEnd, CancellationToken ct = default) =>
        ExplainAsync(connection => FleetPartsCommand(connection, windowEnd), ct);

    internal Task<string> ExplainTopAsync(long windowEnd, RankBy by, int n, CancellationToken ct = default) =>
        ExplainAsync(connection => TopCommand(connection, windowEnd, by, n), ct);

    /// <summary>The plans of a retention batch's two statements: selecting and deleting expired rows, then their windows' parts.</summary>
    internal async Task<(string Rows, string Parts)> ExplainDeleteEndedBeforeAsync(
        long endedBefore, int maxRows, IReadOnlyList<(string DeviceId, long WindowEnd)> windows, CancellationToken ct = default) =>
        (await ExplainAsync(connection => ExpiredRowsCommand(connection, null, endedBefore, maxRows), ct),
            await ExplainAsync(connection => KeysCommand(connection, null, ExpiredPartsSql, windows), ct));

    /// <summary>The index name that serves a top-N by <paramref name="by"/>.</summary>
    internal static string TopIndexOf(RankBy by) => $"window_results_top_{ColumnOf(by)}";

    /// <summary>
    /// The upsert of rows whose values <paramref name="source"/> gives in <see cref="Columns"/> order (a VALUES
    /// list or a SELECT): how each backend sends its batch differs, the rule does not.
    /// </summary>
    protected static string UpsertRowsSql(string source) => $"INSERT INTO window_results ({Columns}) {source} {OnConflictUpdate}";

    /// <summary>Rows with the part they keep, in <see cref="PartColumns"/> order (see <see cref="OnKeptConflictUpdate"/>).</summary>
    protected static string UpsertRowsWithPartSql(string source) => $"INSERT INTO window_results ({PartColumns}) {source} {OnKeptConflictUpdate}";

    /// <summary>Like <see cref="UpsertRowsSql"/>, for parts in <see cref="PartColumns"/> order.</summary>
    protected static string UpsertPartsSql(string source) => $"INSERT INTO window_parts ({PartColumns}) {source} {OnPartConflictUpdate}";

    /// <summary>A parameter per column of <paramref name="columns"/>, named after it and <paramref name="suffix"/>.</summary>
    protected static string ParametersOf(string columns, string suffix = "") =>
        string.Join(", ", columns.Split(", ").Select(c => "@" + c + suffix));

    protected static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql) => DbCommands.Command(connection, transaction, sql);

    protected static DbParameter Bind(DbCommand command, string name, object value) => DbCommands.Bind(command, name, value);

    private static string Aliased(string alias, string columns) => string.Join(", ", columns.Split(", ").Select(c => alias + "." + c));

    // The figure columns are named as clients name the figures (p50 ... mean).
    protected static string ColumnOf(RankBy by) => by.Name();

    private static string UpsertRule(string table, string key, string columns, string also = "true")
    {
        var keyColumns = key.Split(", ");
        var set = string.Join(", ", columns.Split(", ").Where(c => !keyColumns.Contains(c)).Select(c => $"{c} = excluded.{c}"));
        return $"""
            ON CONFLICT ({key}) DO UPDATE SET {set}
            WHERE {also} AND (excluded.revision > {table}.revision
               OR (excluded.revision = {table}.revision AND excluded.final AND NOT {table}.final))
            """;
    }

    /// <remarks>
    /// The latest row of a device, and its history pages, come from the primary key (device_id, window_end)
    /// read backwards: one descent of the b-tree. A separate device_latest table would answer the same with
    /// a second write on every upsert and one more thing to keep consistent.
    /// Top-N has one index per rankable figure, (window_end, figure DESC, device_id): the query reads the
    /// first n entries of the window in the wanted order and stops, whatever the number of devices. Six
    /// indexes cost six index writes per row, about devices × revisions per slide — tiny next to the event
    /// rate — and every figure a client can ask for is answered the same way.
    /// </remarks>
    private IEnumerable<string> SchemaStatements()
    {
        // The columns of Columns, in its order: a part is a row plus its partition and digest.
        var rowColumns = $"""
                device_id {TextKeyType} NOT NULL,
                window_end BIGINT NOT NULL,
                window_start BIGINT NOT NULL,
                p50 DOUBLE PRECISION NOT NULL,
                p90 DOUBLE PRECISION NOT NULL,
                p95 DOUBLE PRECISION NOT NULL,
                p99 DOUBLE PRECISION NOT NULL,
                min DOUBLE PRECISION NOT NULL,
                max DOUBLE PRECISION NOT NULL,
                mean DOUBLE PRECISION NOT NULL,
                count BIGINT NOT NULL,
                revision INTEGER NOT NULL,
                final BOOLEAN NOT NULL,
                last_updated BIGINT NOT NULL,
                p50_low DOUBLE PRECISION,
                p50_high DOUBLE PRECISION,
                p90_low DOUBLE PRECISION,
                p90_high DOUBLE PRECISION,
                p95_low DOUBLE PRECISION,
                p95_high DOUBLE PRECISION,
                p99_low DOUBLE PRECISION,
                p99_high DOUBLE PRECISION,
            """;
        yield return $"""
            CREATE TABLE IF NOT EXISTS window_results (
            {rowColumns}
                PRIMARY KEY (device_id, window_end)
            )
            """;
        foreach (var by in Rankable)
        {
            yield return $"CREATE INDEX IF NOT EXISTS {TopIndexOf(by)} ON window_results (window_end, {ColumnOf(by)} DESC, device_id)";
        }

        // A window's parts, one per partition its device's records came from (see UpsertAsync). The primary
        // key leads with the row's key, so a window's parts are one range of the index.
        yield return $"""
            CREATE TABLE IF NOT EXISTS window_parts (
            {rowColumns}
                kafka_partition INTEGER NOT NULL,
                digest {BinaryType} NOT NULL,
                PRIMARY KEY (device_id, window_end, kafka_partition)
            )
            """;

        // Windows whose latest row the results topic has not been given yet (KeepsResultsOutbox).
        yield return $"""
            CREATE TABLE IF NOT EXISTS results_outbox (
                device_id {TextKeyType} NOT NULL,
                window_end BIGINT NOT NULL,
                revision INTEGER NOT NULL,
                final BOOLEAN NOT NULL,
                PRIMARY KEY (device_id, window_end)
            )
            """;

        yield return $"CREATE TABLE IF NOT EXISTS progress (name {TextKeyType} NOT NULL PRIMARY KEY, value TEXT NOT NULL)";
    }

    /// <summary>
    /// Checks the parts, keeps the winner per key (a statement may not touch one row twice, and the winner is
    /// what the database would keep anyway) and sorts by key, so concurrent writers lock rows in one order
    /// and cannot deadlock.
    /// </summary>
    private static List<WindowPart> Prepare(IReadOnlyList<WindowPart> parts)
    {
        var winners = new Dictionary<(string, long, int), WindowPart>(parts.Count);
        foreach (var part in parts)
        {
            ArgumentNullException.ThrowIfNull(part, nameof(parts));
            var row = part.Row;
            ArgumentException.ThrowIfNullOrEmpty(row.DeviceId, nameof(parts));
            if (!IsFinite(row))
            {
                throw new ArgumentException(
                    string.Create(CultureInfo.InvariantCulture, $"The row of {row.DeviceId} for the window ending at {row.WindowEnd} has a non-finite figure."),
                    nameof(parts));
            }

            var key = (row.DeviceId, row.WindowEnd, part.Partition);
            if (!winners.TryGetValue(key, out var held) || NewerRevisionWins.Supersedes(row, held.Row))
            {
                winners[key] = part;
            }
        }

        var batch = winners.Values.ToList();
        batch.Sort(static (a, b) =>
        {
            var byWindow = CompareKeys(a.Row, b.Row);
            return byWindow != 0 ? byWindow : a.Partition.CompareTo(b.Partition);
        });
        return batch;
    }

    private static int CompareKeys(WindowResult a, WindowResult b)
    {
        var byDevice = string.CompareOrdinal(a.DeviceId, b.DeviceId);
        return byDevice != 0 ? byDevice : a.WindowEnd.CompareTo(b.WindowEnd);
    }

    /// <summary>
    /// One row per window of the sorted parts, for the first statement (which needs the window's row
    /// lock; the merge puts right what one part of a shared window writes there).
    /// </summary>
    private static List<WindowResult> OnePerWindow(List<WindowPart> batch)
    {
        var rows = new List<WindowResult>(batch.Count);
        foreach (var part in batch)
        {
            if (rows.Count == 0 || CompareKeys(rows[^1], part.Row) != 0)
            {
                rows.Add(part.Row);
            }
            else if (NewerRevisionWins.Supersedes(part.Row, rows[^1]))
            {
                rows[^1] = part.Row;
            }
        }

        return rows;
    }

    /// <summary>For each row of <paramref name="rows"/> (one a window, in the batch's order), its window's one part in the batch, or none where the batch holds several.</summary>
    private static List<KeptPart> KeptParts(List<WindowPart> batch, List<WindowResult> rows)
    {
        var kept = new List<KeptPart>(rows.Count);
        // The batch is in key order, so a window's parts in it are neighbours, in the order of the rows.
        for (var i = 0; i < batch.Count;)
        {
            var next = i + 1;
            while (next < batch.Count && CompareKeys(batch[i].Row, batch[next].Row) == 0) next++;
            kept.Add(next == i + 1 ? new KeptPart(batch[i].Partition, batch[i].Digest) : default);
            i = next;
        }

        return kept;
    }

    /// <summary>
    /// The rows of the batch's shared windows (step 2 of <see cref="UpsertAsync"/>): those of which the batch holds
    /// several parts, and those whose row step 1 left as it was while it keeps another partition's part or none.
    /// A row left as it was that keeps the same partition's part holds a newer revision: nothing to do.
    /// </summary>
    private async Task<List<WindowResult>> SharedWindowsAsync(
        DbConnection connection,
        DbTransaction transaction,
        List<WindowResult> rows,
        List<KeptPart> kept,
        HashSet<(string DeviceId, long WindowEnd)> taken,
        CancellationToken ct)
    {
        var shared = new List<WindowResult>();
        var leftAsItWas = new Dictionary<(string DeviceId, long WindowEnd), (WindowResult Row, int Partition)>();
        for (var i = 0; i < rows.Count; i++)
        {
            if (kept[i].Partition is not { } partition) shared.Add(rows[i]);
            else if (!taken.Contains((rows[i].DeviceId, rows[i].WindowEnd))) leftAsItWas[(rows[i].DeviceId, rows[i].WindowEnd)] = (rows[i], partition);
        }

        if (leftAsItWas.Count > 0)
        {
            await using var command = KeysCommand(connection, transaction, KeptPartitionsSql, leftAsItWas.Keys.ToList());
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var (row, partition) = leftAsItWas[(reader.GetString(0), reader.GetInt64(1))];
                if (reader.IsDBNull(2) || reader.GetInt32(2) != partition) shared.Add(row);
            }
        }

        // Key order, as every statement of the transaction takes its rows.
        shared.Sort(CompareKeys);
        return shared;
    }

    /// <summary>Puts each merged row in place of its window's row.</summary>
    private static void Replace(List<WindowResult> rows, List<WindowResult> merged)
    {
        var byWindow = merged.ToDictionary(r => (r.DeviceId, r.WindowEnd));
        for (var i = 0; i < rows.Count; i++)
        {
            if (byWindow.TryGetValue((rows[i].DeviceId, rows[i].WindowEnd), out var row))
            {
                rows[i] = row;
            }
        }
    }

    /// <summary>
    /// The merged rows of the batch's windows that have more than one part: one query for their parts, as
    /// committed now plus this transaction's own, each window's together and in partition order.
    /// </summary>
    private async Task<List<WindowResult>> MergeSharedAsync(
        DbConnection connection, DbTransaction transaction, IReadOnlyList<(string DeviceId, long WindowEnd)> windows, CancellationToken ct)
    {
        await using var command = KeysCommand(connection, transaction, SharedPartsSql, windows);
        var merged = new List<WindowResult>();
        var window = new List<WindowPart>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var part = ReadPart(reader);
            if (window.Count > 0 && CompareKeys(window[0].Row, part.Row) != 0)
            {
                merged.Add(WindowPart.Merge(window));
                window.Clear();
            }

            window.Add(part);
        }

        if (window.Count > 0)
        {
            merged.Add(WindowPart.Merge(window));
        }

        return merged;
    }

    /// <summary>
    /// SQLite stores NaN as NULL and PostgreSQL keeps it, so a non-finite figure would read back differently
    /// per backend and break ranking; it can only come from a bug upstream, so it is refused, loudly.
    /// </summary>
    private static bool IsFinite(WindowResult row) =>
        double.IsFinite(row.P50) && double.IsFinite(row.P90) && double.IsFinite(row.P95) && double.IsFinite(row.P99)
        && double.IsFinite(row.Min) && double.IsFinite(row.Max) && double.IsFinite(row.Mean)
        && IsFinite(row.Bounds.P50) && IsFinite(row.Bounds.P90) && IsFinite(row.Bounds.P95) && IsFinite(row.Bounds.P99);

    private static bool IsFinite(ValueRange range) => double.IsFinite(range.Low) && double.IsFinite(range.High);

    private static DbCommand LatestCommand(DbConnection connection, string deviceId)
    {
        var command = Command(connection, null, LatestSql);
        Bind(command, "@device_id", deviceId);
        return command;
    }

    private static DbCommand HistoryCommand(
        DbConnection connection, string deviceId, long? from, long? to, int limit, HistoryCursor? cursor)
    {
        // Both bounds and the cursor fold into one inclusive range, so one statement serves every combination.
        var upper = to ?? long.MaxValue;
        if (cursor is { } after)
        {
            upper = Math.Min(upper, after.Before == long.MinValue ? long.MinValue : after.Before - 1);
        }

        var command = Command(connection, null, HistorySql);
        Bind(command, "@device_id", deviceId);
        Bind(command, "@from", from ?? long.MinValue);
        Bind(command, "@to", upper);
        Bind(command, "@limit", limit);
        return command;
    }

    /// <summary>A statement over <see cref="KeysSource"/>, with <paramref name="keys"/> bound.</summary>
    private DbCommand KeysCommand(
        DbConnection connection, DbTransaction? transaction, string sql, IReadOnlyList<(string DeviceId, long WindowEnd)> keys)
    {
        var command = Command(connection, transaction, sql);
        BindKeys(command, keys);
        return command;
    }

    private static DbCommand TopCommand(DbConnection connection, long windowEnd, RankBy by, int n)
    {
        var command = Command(connection, null, TopSql[Array.IndexOf(Rankable, by)]);
        Bind(command, "@window_end", windowEnd);
        Bind(command, "@n", n);
        return command;
    }

    private static DbCommand FleetPartsCommand(DbConnection connection, long windowEnd)
    {
        var command = Command(connection, null, FleetPartsSql);
        Bind(command, "@window_end", windowEnd);
        return command;
    }

    private static async Task SaveProgressAsync(
        DbConnection connection, DbTransaction transaction, string key, string value, CancellationToken ct)
    {
        await using var command = Command(connection, transaction, SaveProgressSql);
        Bind(command, "@name", key);
        Bind(command, "@value", value);
        await command.ExecuteNonQueryAsync(ct);
    }

    private static async Task<List<WindowResult>> ReadRowsAsync(DbCommand command, CancellationToken ct)
    {
        var rows = new List<WindowResult>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            rows.Add(ReadRow(reader));
        }

        return rows;
    }

    /// <summary>A part read in <see cref="PartColumns"/> order: the row's columns, then the partition and the digest.</summary>
    // PartColumns: the row's columns, then the partition and the digest.
    private static WindowPart ReadPart(DbDataReader reader) =>
        new(reader.GetInt32(PartColumn), ReadRow(reader), reader.GetFieldValue<byte[]>(PartColumn + 1));

    private static WindowResult ReadRow(DbDataReader reader) => new(
        DeviceId: reader.GetString(0),
        WindowEnd: reader.GetInt64(1),
        WindowStart: reader.GetInt64(2),
        P50: reader.GetDouble(3),
        P90: reader.GetDouble(4),
        P95: reader.GetDouble(5),
        P99: reader.GetDouble(6),
        Min: reader.GetDouble(7),
        Max: reader.GetDouble(8),
        Mean: reader.GetDouble(9),
        Count: reader.GetInt64(10),
        Revision: reader.GetInt32(11),
        Final: reader.GetBoolean(12),
        LastUpdated: reader.GetInt64(13),
        Bounds: reader.IsDBNull(BoundsColumn)
            ? PercentileBounds.Within(reader.GetDouble(7), reader.GetDouble(8))
            : new PercentileBounds(ReadRange(reader, BoundsColumn), ReadRange(reader, BoundsColumn + 2), ReadRange(reader, BoundsColumn + 4), ReadRange(reader, BoundsColumn + 6)));

    private static ValueRange ReadRange(DbDataReader reader, int column) => new(reader.GetDouble(column), reader.GetDouble(column + 1));

    private async Task<string> ExplainAsync(Func<DbConnection, DbCommand> query, CancellationToken ct) =>
        await WithConnectionAsync(
            async connection =>
            {
                await using var command = query(connection);
                command.CommandText = ExplainPrefix + " " + command.CommandText;
                var plan = new StringBuilder();
                await using var reader = await command.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    // The plan text is the last column in both dialects (SQLite adds id, parent, notused).
                    plan.AppendLine(reader.GetString(reader.FieldCount - 1));
                }

                return plan.ToString();
            },
            ct);

    private async Task<T> WithConnectionAsync<T>(Func<DbConnection, Task<T>> work, CancellationToken ct)
    {
        try
        {
            await using var connection = await OpenAsync(ct);
            return await work(connection);
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            throw Unreachable(e);
        }
    }

    private static StoreUnavailableException Unreachable(Exception e) => new("The result store is unreachable: " + e.Message, e);

    private async Task WriteAsync(Func<DbConnection, DbTransaction, Task> work, CancellationToken ct)
    {
        if (_writer is null)
        {
            await WithConnectionAsync(
                async connection =>
                {
                    await InTransactionAsync(connection, work, ct);
                    return true;
                },
                ct);
            return;
        }

        await _writer.WaitAsync(ct);
        try
        {
            _writeConnection ??= await OpenWriterAsync(ct);
            await InTransactionAsync(_writeConnection, work, ct);
        }
        catch (Exception e)
        {
            // Whatever state a failed write left the connection in, the next write starts on a new one.
            await DropWriteConnectionAsync();
            if (IsUnavailable(e))
            {
                throw Unreachable(e);
            }

            throw;
        }
        finally
        {
            _writer.Release();
        }
    }

    private static async Task InTransactionAsync(DbConnection connection, Func<DbConnection, DbTransaction, Task> work, CancellationToken ct)
    {
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await work(connection, transaction);
        await transaction.CommitAsync(ct);
    }

    private async Task DropWriteConnectionAsync()
    {
        if (_writeConnection is { } connection)
        {
            _writeConnection = null;
            await connection.DisposeAsync();
        }
    }
}
