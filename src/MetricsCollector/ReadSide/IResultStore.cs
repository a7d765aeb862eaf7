using MetricsCollector.Core.Windows;

namespace MetricsCollector.ReadSide;

/// <summary>
/// The read side: result rows keyed by (device, window end), queried by the REST API and written, as parts
/// of rows, by the result writers. Every write is idempotent and never lets an older revision of a row
/// replace a newer one, so replays and reordered deliveries are harmless. Failures to reach the database surface as
/// <see cref="StoreUnavailableException"/>.
/// </summary>
public interface IResultStore : IAsyncDisposable
{
    /// <summary>Creates the tables and indexes that are missing; safe to call from every node at start.</summary>
    Task EnsureSchemaAsync(CancellationToken ct = default);

    /// <summary>
    /// Writes <paramref name="parts"/> and, if given, <paramref name="progress"/> entries in one transaction,
    /// so a projection can store how far it got together with what it wrote. A part is one partition's share
    /// of a (device, window) row (<see cref="WindowPart"/>): a window with one part has that part's row, a
    /// window with several the merge of all of them, whichever node wrote which and in whatever order.
    /// A row or part replaces the stored one only with a higher revision, or at the same revision as its
    /// final form. Returns one row per window of the batch: the merge of its parts where it has several,
    /// else its part's row (what the top-N holder is told), and which of them the store took.
    /// </summary>
    Task<StoredRows> UpsertAsync(
        IReadOnlyList<WindowPart> parts,
        IReadOnlyCollection<KeyValuePair<string, string>>? progress = null,
        CancellationToken ct = default);

    /// <summary>The stored parts numbered <paramref name="partition"/> of the given windows, in no particular order.</summary>
    Task<IReadOnlyList<WindowPart>> PartsAsync(
        IReadOnlyList<(string DeviceId, long WindowEnd)> windows, int partition, CancellationToken ct = default);

    /// <summary>The device's row with the latest window end, or null for an unknown device.</summary>
    Task<WindowResult?> LatestAsync(string deviceId, CancellationToken ct = default);

    /// <summary>
    /// The device's rows whose window end lies in [<paramref name="from"/>, <paramref name="to"/>] (epoch ms,
    /// either bound optional), newest first, at most <paramref name="limit"/>, continuing after
    /// <paramref name="cursor"/> when given.
    /// </summary>
    Task<HistoryPage> HistoryAsync(
        string deviceId,
        long? from,
        long? to,
        int limit,
        HistoryCursor? cursor,
        CancellationToken ct = default);

    /// <summary>The <paramref name="n"/> rows of the window ending at <paramref name="windowEnd"/> ranked by
    /// <paramref name="by"/>: highest first, ties by device id ascending.</summary>
    Task<IReadOnlyList<WindowResult>> TopAsync(long windowEnd, RankBy by, int n, CancellationToken ct = default);

    /// <summary>
    /// The figures of the window ending at <paramref name="windowEnd"/> over every event of every device,
    /// merged from its parts' digests; null when the window has no rows.
    /// </summary>
    Task<FleetFigures?> FleetAsync(long windowEnd, CancellationToken ct = default);

    /// <summary>The distinct window ends present, newest first, at most <paramref name="count"/>: what a
    /// top-N holder needs to rebuild its state after a failover.</summary>
    Task<IReadOnlyList<long>> RecentWindowEndsAsync(int count, CancellationToken ct = default);

    /// <summary>
    /// Rows the results topic is owed (see <see cref="SqlResultStore.KeepsResultsOutbox"/>), oldest windows first,
    /// at most <paramref name="limit"/>: those not final and last updated before <paramref name="lastUpdatedBefore"/>
    /// (epoch ms), and those final with a window end at or below <paramref name="closedEnd"/>.
    /// </summary>
    Task<IReadOnlyList<WindowResult>> OwedResultsAsync(long lastUpdatedBefore, long closedEnd, int limit, CancellationToken ct = default);

    /// <summary>
    /// The results topic has these rows (as produced: their revision and final flag): each window is owed no more,
    /// unless a later revision, or the final form of the same one, has been stored since.
    /// </summary>
    Task ResultsProducedAsync(IReadOnlyList<WindowResult> produced, CancellationToken ct = default);

    /// <summary>Round-trips to the database; throws <see cref="StoreUnavailableException"/> when it cannot.</summary>
    Task PingAsync(CancellationToken ct = default);

    Task SaveProgressAsync(string key, string value, CancellationToken ct = default);

    Task<string?> LoadProgressAsync(string key, CancellationToken ct = default);

    /// <summary>
    /// Deletes, in one transaction, up to <paramref name="maxRows"/> rows whose window ended before
    /// <paramref name="endedBefore"/> (epoch ms), oldest first, together with every part of their windows.
    /// Rows a writer holds at that moment are left for a later call rather than waited for. Fewer than
    /// <paramref name="maxRows"/> rows deleted means none older was left unlocked.
    /// </summary>
    Task<DeletedRows> DeleteEndedBeforeAsync(long endedBefore, int maxRows, CancellationToken ct = default);

    /// <summary>
    /// The cluster-wide turn to delete expired rows: held until disposed, or null while another node holds it.
    /// </summary>
    Task<IAsyncDisposable?> TryLockRetentionAsync(CancellationToken ct = default);
}

/// <summary>What one <see cref="IResultStore.DeleteEndedBeforeAsync"/> removed: rows, and their windows' parts.</summary>
public readonly record struct DeletedRows(int Rows, int Parts);

/// <summary>One page of a device's history; <see cref="Next"/> is null on the last page.</summary>
public sealed record HistoryPage(IReadOnlyList<WindowResult> Items, HistoryCursor? Next);
