using MetricsCollector.Api;
using MetricsCollector.Configuration;
using MetricsCollector.Core.Time;
using MetricsCollector.Core.Windows;
using MetricsCollector.Ingest;
using MetricsCollector.Partitions;

namespace MetricsCollector.ReadSide;

/// <summary>
/// When a served row may say <c>final</c>. The store calls a row final once every part it holds is final,
/// but with unkeyed producers a device's records arrive on several partitions, and a partition that lags
/// has not written its part yet. So a row is served final only once every partition of the topic has
/// stored its watermark past the window's close (<see cref="PartitionProgress.FinalThrough"/>, the lowest
/// of them all): then no partition can add a part or revise one, and every part is in the store. That is
/// what "final means final" rests on; every route serves rows through it.
/// </summary>
public sealed class RowFinality(IPartitionProgressStore progress, InputTopic topic, CollectorSettings settings, TimeProvider clock)
{
    private static readonly TimeSpan Fresh = TimeSpan.FromSeconds(1);

    private readonly Lock _gate = new();
    private Task<long>? _refresh;
    private long _storedThrough = Watermark.Start;
    private DateTimeOffset _readAt = DateTimeOffset.MinValue;

    /// <summary>The lowest watermark every partition of the topic has stored; <see cref="Watermark.Start"/> while one has none.</summary>
    public Task<long> StoredThroughAsync()
    {
        lock (_gate)
        {
            if (clock.GetUtcNow() - _readAt < Fresh) return Task.FromResult(_storedThrough);
            // One read at a time; callers meanwhile share it.
            if (_refresh is not { IsCompleted: false }) _refresh = ReadAsync();
            return _refresh;
        }
    }

    public async Task<WindowResult?> ApplyAsync(WindowResult? row) =>
        row is { Final: true } ? Apply(row, await StoredThroughAsync()) : row;

    public async Task<IReadOnlyList<WindowResult>> ApplyAsync(IReadOnlyList<WindowResult> rows)
    {
        if (!rows.Any(r => r.Final)) return rows;
        var through = await StoredThroughAsync();
        return rows.Select(r => Apply(r, through)).ToList();
    }

    private WindowResult Apply(WindowResult row, long storedThrough) =>
        row.Final && settings.Windows.PhaseOf(row.WindowEnd, storedThrough) != WindowPhase.Closed ? row with { Final = false } : row;

    private async Task<long> ReadAsync()
    {
        var through = Watermark.Start;
        if (topic.Partitions is { } partitions and > 0)
        {
            through = long.MaxValue;
            for (var partition = 0; partition < partitions && through > Watermark.Start; partition++)
            {
                var saved = await progress.LoadFinalThroughAsync(PartitionProgress.KeyOf(settings.GroupId, settings.Topic, partition));
                through = Math.Min(through, saved ?? Watermark.Start);
            }
        }
        lock (_gate)
        {
            _storedThrough = through;
            _readAt = clock.GetUtcNow();
        }
        return through;
    }
}

/// <summary>The result store as the API and readers see it: rows final only as <see cref="RowFinality"/> allows. Writes pass through.</summary>
public sealed class FinalRowsStore(IResultStore inner, RowFinality finality) : IResultStore
{
    public Task EnsureSchemaAsync(CancellationToken ct = default) => inner.EnsureSchemaAsync(ct);

    public Task<StoredRows> UpsertAsync(IReadOnlyList<WindowPart> parts, IReadOnlyCollection<KeyValuePair<string, string>>? progress = null, CancellationToken ct = default) =>
        inner.UpsertAsync(parts, progress, ct);

    public Task<IReadOnlyList<WindowPart>> PartsAsync(IReadOnlyList<(string DeviceId, long WindowEnd)> windows, int partition, CancellationToken ct = default) =>
        inner.PartsAsync(windows, partition, ct);

    public async Task<WindowResult?> LatestAsync(string deviceId, CancellationToken ct = default) =>
        await finality.ApplyAsync(await inner.LatestAsync(deviceId, ct));

    public async Task<HistoryPage> HistoryAsync(string deviceId, long? from, long? to, int limit, HistoryCursor? cursor, CancellationToken ct = default)
    {
        var page = await inner.HistoryAsync(deviceId, from, to, limit, cursor, ct);
        return page with { Items = await finality.ApplyAsync(page.Items) };
    }

    public async Task<IReadOnlyList<WindowResult>> TopAsync(long windowEnd, RankBy by, int n, CancellationToken ct = default) =>
        await finality.ApplyAsync(await inner.TopAsync(windowEnd, by, n, ct));

    public Task<FleetFigures?> FleetAsync(long windowEnd, CancellationToken ct = default) => inner.FleetAsync(windowEnd, ct);

    public Task<IReadOnlyList<long>> RecentWindowEndsAsync(int count, CancellationToken ct = default) => inner.RecentWindowEndsAsync(count, ct);

    public Task<IReadOnlyList<WindowResult>> OwedResultsAsync(long lastUpdatedBefore, long closedEnd, int limit, CancellationToken ct = default) =>
        inner.OwedResultsAsync(lastUpdatedBefore, closedEnd, limit, ct);

    public Task ResultsProducedAsync(IReadOnlyList<WindowResult> produced, CancellationToken ct = default) => inner.ResultsProducedAsync(produced, ct);

    public Task PingAsync(CancellationToken ct = default) => inner.PingAsync(ct);

    public Task SaveProgressAsync(string key, string value, CancellationToken ct = default) => inner.SaveProgressAsync(key, value, ct);

    public Task<string?> LoadProgressAsync(string key, CancellationToken ct = default) => inner.LoadProgressAsync(key, ct);

    public Task<DeletedRows> DeleteEndedBeforeAsync(long endedBefore, int maxRows, CancellationToken ct = default) => inner.DeleteEndedBeforeAsync(endedBefore, maxRows, ct);

    public Task<IAsyncDisposable?> TryLockRetentionAsync(CancellationToken ct = default) => inner.TryLockRetentionAsync(ct);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}

/// <summary>The top-N singleton's answers, rows final only as <see cref="RowFinality"/> allows.</summary>
public sealed class FinalTopN(ILatestTopN inner, RowFinality finality) : ILatestTopN
{
    public async Task<IReadOnlyList<WindowResult>> TopAsync(int n, RankBy by, CancellationToken ct) =>
        await finality.ApplyAsync(await inner.TopAsync(n, by, ct));
}
