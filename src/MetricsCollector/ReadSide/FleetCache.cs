using MetricsCollector.Api;
using MetricsCollector.Configuration;
using MetricsCollector.Core.Windows;

namespace MetricsCollector.ReadSide;

/// <summary>
/// The fleet figures of windows that have fired on every partition, each computed once and kept, so that
/// requests cost a lookup and not a merge of every device's digest. Which windows have fired everywhere the
/// top-N singleton knows: the window of its latest answer is the newest. A window still taking late events is
/// computed once more when it closes (<see cref="RowFinality"/>), and only then says <c>final</c>: late events
/// and rows still on their way to the store between firing and closing show up at that second computation.
/// </summary>
public sealed class FleetCache(IResultStore store, ILatestTopN latest, RowFinality finality, CollectorSettings settings)
{
    // The newest windows are what clients ask for; 64 keep an hour of one-minute slides for every figure.

    private readonly Lock _gate = new();
    private readonly Dictionary<(long End, RankBy? By), Entry> _entries = new();

    /// <summary>
    /// The figures of the window ending at <paramref name="windowEnd"/>, or of the latest that has fired
    /// everywhere; over every event, or with <paramref name="by"/> over that figure of every device's row.
    /// </summary>
    public async Task<FleetAnswer> GetAsync(long? windowEnd, RankBy? by, CancellationToken ct)
    {
        var top = await latest.TopAsync(1, RankByExtensions.Default, ct);
        if (top.Count == 0) return new FleetAnswer(FleetStatus.NothingFiredYet, windowEnd, by, null, false);
        var end = windowEnd ?? top[0].WindowEnd;
        if (end > top[0].WindowEnd) return new FleetAnswer(FleetStatus.NotFiredEverywhere, end, by, null, false);

        var closed = settings.Windows.PhaseOf(end, await finality.StoredThroughAsync()) == WindowPhase.Closed;
        var entry = EntryFor((end, by), closed);
        FleetFigures? figures;
        try
        {
            figures = await entry.Figures.WaitAsync(ct);
        }
        catch (Exception) when (entry.Figures.IsFaulted || entry.Figures.IsCanceled)
        {
            // A failed computation (store out of reach) is not kept: the next request tries again.
            lock (_gate)
            {
                if (_entries.TryGetValue((end, by), out var held) && held == entry) _entries.Remove((end, by));
            }
            throw;
        }

        return figures is null
            ? new FleetAnswer(FleetStatus.NoRows, end, by, null, false)
            : new FleetAnswer(FleetStatus.Served, end, by, figures, entry.Final);
    }

    private Entry EntryFor((long End, RankBy? By) key, bool closed)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(key, out var held) && (held.Final || !closed)) return held;
            // Not the request's token: concurrent requests share the computation, and one leaving must not fail the others.
            var entry = new Entry(ComputeAsync(key.End, key.By), closed);
            _entries[key] = entry;
            while (_entries.Count > settings.FleetCacheWindows) _entries.Remove(_entries.Keys.MinBy(k => k.End));
            return entry;
        }
    }

    private async Task<FleetFigures?> ComputeAsync(long end, RankBy? by) =>
        by is { } figure
            ? FleetFigures.OfDevices(await store.TopAsync(end, figure, int.MaxValue), figure, settings.Windows.Compression)
            : await store.FleetAsync(end);

    private sealed record Entry(Task<FleetFigures?> Figures, bool Final);
}

public enum FleetStatus
{
    Served,
    NothingFiredYet,
    NotFiredEverywhere,
    NoRows,
}

/// <summary>A fleet lookup: the figures when <see cref="Status"/> is <see cref="FleetStatus.Served"/>, else why not.</summary>
public sealed record FleetAnswer(FleetStatus Status, long? WindowEnd, RankBy? By, FleetFigures? Figures, bool Final);
