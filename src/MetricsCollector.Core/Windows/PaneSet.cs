using System.Buffers;
using MetricsCollector.Core.Digests;

namespace MetricsCollector.Core.Windows;

/// <summary>
/// The panes of one device: one t-digest per slide-long stretch of event time, kept in pane
/// order. Events arrive mostly in time order, so a sorted list appends at its end and drops at
/// its front; a device rarely holds more than size/slide + lateness/slide panes.
/// </summary>
public sealed class PaneSet
{
    private readonly SortedList<long, TDigest> _panes = new();
    private readonly double _compression;

    // The pane the last value went to: the next one nearly always goes there too, and this
    // spares the search through the list's arrays (cache misses, with thousands of devices).
    private long _lastPane;
    private TDigest? _lastDigest;

    public PaneSet(double compression) => _compression = compression;

    public int Count => _panes.Count;

    public IList<long> Indexes => _panes.Keys;

    public IList<TDigest> Digests => _panes.Values;

    public void Add(long pane, double value)
    {
        if (_lastDigest is null || pane != _lastPane)
        {
            if (!_panes.TryGetValue(pane, out var digest))
            {
                digest = new TDigest(_compression);
                _panes.Add(pane, digest);
            }
            _lastPane = pane;
            _lastDigest = digest;
        }
        _lastDigest.Add(value);
    }

    /// <summary>Restores a pane from a snapshot.</summary>
    public void Put(long pane, TDigest digest)
    {
        _panes[pane] = digest;
        _lastDigest = null;
    }

    /// <summary>Merges the panes in <c>[firstPane, lastPane]</c> into a new digest; null when all are empty.</summary>
    public TDigest? Merge(long firstPane, long lastPane)
    {
        var merged = new TDigest(_compression);
        return MergeInto(firstPane, lastPane, merged) ? merged : null;
    }

    /// <summary>
    /// Merges the panes in <c>[firstPane, lastPane]</c> into <paramref name="into"/> (emptied
    /// first, see <see cref="TDigest.MergeAllInto"/>); whether they held anything.
    /// </summary>
    public bool MergeInto(long firstPane, long lastPane, TDigest into)
    {
        // SortedList hands out its values only one at a time; the pool keeps the window build
        // allocation-free, and clearing on return keeps dropped panes from being held alive.
        var panes = ArrayPool<TDigest>.Shared.Rent(Math.Max(1, _panes.Count));
        try
        {
            var count = Collect(firstPane, lastPane, panes, 0);
            TDigest.MergeAllInto(panes.AsSpan(0, count), into);
            return count > 0;
        }
        finally
        {
            ArrayPool<TDigest>.Shared.Return(panes, clearArray: true);
        }
    }

    /// <summary>
    /// Puts the digests of the panes in <c>[firstPane, lastPane]</c> into <paramref name="into"/>
    /// from position <paramref name="count"/> on; returns the position after them.
    /// </summary>
    public int Collect(long firstPane, long lastPane, TDigest[] into, int count)
    {
        var keys = _panes.Keys;
        for (var i = LowerBound(firstPane); i < keys.Count && keys[i] <= lastPane; i++) into[count++] = _panes.Values[i];
        return count;
    }

    /// <summary>How many values the panes in <c>[firstPane, lastPane]</c> hold.</summary>
    public long CountIn(long firstPane, long lastPane)
    {
        var keys = _panes.Keys;
        long count = 0;
        for (var i = LowerBound(firstPane); i < keys.Count && keys[i] <= lastPane; i++) count += _panes.Values[i].Count;
        return count;
    }

    /// <summary>Whether any pane in <c>[firstPane, lastPane]</c> holds an event.</summary>
    public bool AnyIn(long firstPane, long lastPane)
    {
        var i = LowerBound(firstPane);
        return i < _panes.Count && _panes.Keys[i] <= lastPane;
    }

    /// <summary>
    /// Compacts every pane but the newest. The newest takes the device's in-order events and keeps
    /// its buffer; the others take only out-of-order and late ones, and compacted (in decimal form
    /// for readings of a few decimals, see <see cref="TDigest.Compact"/>) a pane of a minute's
    /// readings takes about a third of the memory. A pane compacted earlier and not changed since
    /// costs a few comparisons.
    /// </summary>
    public void CompactAllButNewest()
    {
        var digests = _panes.Values;
        for (var i = 0; i < digests.Count - 1; i++) digests[i].Compact();
    }

    /// <summary>Drops every pane below <paramref name="pane"/>.</summary>
    public void DropBelow(long pane)
    {
        if (_lastPane < pane) _lastDigest = null;
        while (_panes.Count > 0 && _panes.Keys[0] < pane) _panes.RemoveAt(0);
    }

    /// <summary>Index of the first pane at or after <paramref name="pane"/>.</summary>
    private int LowerBound(long pane)
    {
        var keys = _panes.Keys;
        int lo = 0, hi = keys.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (keys[mid] < pane) lo = mid + 1; else hi = mid;
        }
        return lo;
    }
}
