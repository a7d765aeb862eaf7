using MetricsCollector.Core.Digests;

namespace MetricsCollector.Core.Windows;

/// <summary>
/// The merge of the panes that consecutive windows share, kept between their builds, so that a
/// window's digest merges that one partial and a few panes rather than every pane it spans.
/// </summary>
/// <remarks>
/// <para>
/// Windows are built in order of their ends, each one pane further on. A window built from
/// scratch also merges the panes it shares with the next <c>stride</c> windows,
/// <c>[first + stride, last]</c>, into the partial; each of those windows (and the one after, whose
/// other panes are again <c>stride</c>) is then the partial plus <c>stride</c> panes. With
/// stride ≈ √(panes per window) the two costs balance: for 30 panes, stride 5, a window merges
/// the partial and 5 panes, and every sixth rebuilds the partial from 25 panes, about 10 panes a
/// window instead of 30. It is the two-stacks idea cut down to a single partial, so a device
/// holds one extra digest, not one per pane, and holds it serialized: about 600 bytes where its
/// arrays take 2.7 KB, and reading it back costs a fraction of what the partial saves.
/// </para>
/// <para>
/// The partial's panes are all behind the watermark once a window holding them has fired, so
/// what reaches them later is a late event; such values are kept aside (<see cref="Added"/>) and
/// merged in with the partial, which is therefore always the exact sum of its panes.
/// </para>
/// <para>
/// Small windows are merged from their panes as before: below <c>SmallWindowFactor·δ</c> values
/// a window of raw readings is as cheap to merge as the partial (whose centroids are weighted,
/// the slower path), and holding a partial would cost memory for nothing.
/// </para>
/// </remarks>
internal sealed class SharedPanes(int panesPerWindow, double compression)
{
    private const int SmallWindowFactor = 8;

    // The partial is read into this for each window it serves.
    [ThreadStatic] private static TDigest? t_partial;

    private readonly int _stride = Math.Max(1, (int)Math.Round(Math.Sqrt(panesPerWindow)));

    private byte[]? _partial;
    private long _from;
    private long _to;

    /// <summary>Values added to the partial's panes after it was built.</summary>
    private List<double>? _since;

    /// <summary>
    /// Merges the window of panes <c>[first, last]</c> into <paramref name="into"/> (emptied
    /// first, see <see cref="TDigest.MergeAllInto"/>); whether they hold any event.
    /// </summary>
    public bool Window(PaneSet panes, long first, long last, TDigest into)
    {
        if (_partial is null || first > _from || last < _to || (_from - first) + (last - _to) > _stride)
        {
            _partial = null;
            _since = null;
            if (last - first < _stride || panes.CountIn(first, last) < SmallWindowFactor * compression)
            {
                return panes.MergeInto(first, last, into);
            }

            if (panes.Merge(first + _stride, last) is not { } partial)
            {
                return panes.MergeInto(first, last, into);
            }

            _partial = partial.ToBytes();
            _from = first + _stride;
            _to = last;
        }

        // The partial, the panes around it, and what reached its panes since.
        var selection = PaneSelection.Rent();
        try
        {
            var scratch = t_partial is { } held && held.Compression == compression ? held : t_partial = new TDigest(compression);
            selection.Add(new MergeInput(TDigest.ReadInto(_partial, scratch)));
            panes.Collect(first, _from - 1, selection);
            panes.Collect(_to + 1, last, selection);
            if (_since is not null)
            {
                var late = new TDigest(compression);
                foreach (var value in _since)
                {
                    late.Add(value);
                }

                selection.Add(new MergeInput(late));
            }

            TDigest.MergeAllInto(selection.Inputs, into);
            return true;
        }
        finally
        {
            selection.Return();
        }
    }

    /// <summary>Notes a value added to <paramref name="pane"/>: the partial misses it if it holds that pane.</summary>
    public void Added(long pane, double value)
    {
        if (_partial is not null && pane >= _from && pane <= _to)
        {
            (_since ??= []).Add(value);
        }
    }

    /// <summary>Forgets the partial once its first pane is dropped: no window that is still to be built starts that early.</summary>
    public void DropBelow(long pane)
    {
        if (_partial is not null && _from < pane)
        {
            _partial = null;
            _since = null;
        }
    }
}
