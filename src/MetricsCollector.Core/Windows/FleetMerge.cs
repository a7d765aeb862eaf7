using System.Runtime.InteropServices;
using MetricsCollector.Core.Digests;

namespace MetricsCollector.Core.Windows;

/// <summary>
/// Folds every part of one window, of every device, into the window's <see cref="FleetFigures"/>. A part's
/// digest holds its values' exact count, min, max and sum, so those stay exact; the percentiles come from the
/// merge of all the digests, within the same rank bound as a device's row (merging digests in any grouping
/// keeps it). Parts arrive one at a time, in any order, and are merged a batch at a time into one running
/// digest, so 10,000 devices never hold 10,000 digests at once.
/// </summary>
public sealed class FleetMerge
{
    private readonly List<TDigest> _batch = new();
    private readonly HashSet<string> _devices = new(StringComparer.Ordinal);
    private readonly int _batchSize;
    private TDigest? _merged;
    private long _windowStart;
    private long? _windowEnd;

    /// <param name="batchSize">How many parts' digests are held before they are merged into the running one.</param>
    public FleetMerge(int batchSize = 256)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        _batchSize = batchSize;
    }

    public void Add(WindowPart part)
    {
        ArgumentNullException.ThrowIfNull(part);
        var row = part.Row;
        if (_windowEnd is { } end && end != row.WindowEnd)
            throw new ArgumentException($"parts of different windows: {end} and {row.WindowEnd}", nameof(part));
        _windowEnd = row.WindowEnd;
        _windowStart = row.WindowStart;
        _devices.Add(row.DeviceId);
        _batch.Add(TDigest.FromBytes(part.Digest));
        if (_batch.Count >= _batchSize) MergeBatch();
    }

    /// <summary>The figures of every part added so far; null when none was.</summary>
    public FleetFigures? Result()
    {
        if (_windowEnd is not { } end) return null;
        MergeBatch();
        return FleetFigures.Of(_windowStart, end, _merged!, _devices.Count);
    }

    private void MergeBatch()
    {
        if (_batch.Count == 0) return;
        if (_merged is not null) _batch.Add(_merged);
        _merged = TDigest.MergeAll(CollectionsMarshal.AsSpan(_batch), _batch[0].Compression);
        _batch.Clear();
    }
}
