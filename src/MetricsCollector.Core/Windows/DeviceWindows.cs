using MetricsCollector.Core.Digests;
using MetricsCollector.Core.Time;

namespace MetricsCollector.Core.Windows;

/// <summary>
/// The sliding windows of one device's records from one partition: the window operator that the
/// device actor drives. Its rows are <see cref="WindowPart"/>s: all of a row when the device's
/// records come from one partition, as keyed producers send them.
/// Events go into their pane once; a window's figures are the merge of its panes, computed when
/// a row has to be written. Windows fire when the watermark reaches their end and close when it
/// reaches end + allowed lateness; an event for a fired window revises its row.
///
/// Rows are materialised lazily (<see cref="TakeResults"/>): a burst of late events revises a
/// window many times but merges its panes once. That never changes the figures, because after a
/// window fires every change to its panes is a late event for it and is counted as a revision —
/// with one exception: a pane keeps taking events for later windows after an earlier window that
/// holds it has closed. So a closing window's row is materialised at the moment it closes.
///
/// Building a row is most of the core's work, so it is shared where it can be. A window built
/// for the first time merges a partial that the next windows share plus a few panes
/// (<see cref="SharedPanes"/>). A revision of a window of more than 2δ readings starts from the
/// digest of the window's last row and adds only the late values that arrived since: after a
/// window fires, those are the only changes to its panes. A smaller window merges its panes again
/// (see <see cref="KeptRowMinimum"/>).
/// </summary>
public sealed partial class DeviceWindows
{
    // A fired window keeps its last part, to be revised from or closed with, only when it holds
    // more than this many times δ readings. A smaller window's digest bytes (~10 bytes a centroid,
    // most of its readings a centroid of their own) take more memory than its readings do in its
    // panes (one to three bytes each), which hold them anyway, and merging those panes again when
    // the window is revised or closes costs a few microseconds once a slide. At one event every
    // 10 s (180 readings a window) that is 2–3 KB a device; at one a second (1,800) nothing changes.
    private const int KeptRowMinimum = 2;

    // A window's digest lives only while its row is made, so each thread reuses one.
    [ThreadStatic] private static TDigest? t_window;

    private readonly WindowSettings _settings;
    private readonly PaneSet _panes;
    private readonly SharedPanes _shared;
    private readonly SortedList<long, FiredWindow> _fired = new();
    private readonly List<WindowPart> _closedRows = new();

    /// <summary>Fired windows changed since their row was last taken; saves a scan per event.</summary>
    private int _dirty;

    /// <summary><see cref="NextWakeUp"/>, kept up to date as panes and fired windows come and go.</summary>
    private long _wake = long.MaxValue;

    public DeviceWindows(string deviceId, int partition, WindowSettings settings)
    {
        DeviceId = deviceId;
        Partition = partition;
        _settings = settings;
        _panes = new PaneSet(settings.Compression);
        _shared = new SharedPanes(settings.Spec.PanesPerWindow, settings.Compression);
    }

    public string DeviceId { get; }

    /// <summary>The Kafka partition whose records and watermark these windows follow.</summary>
    public int Partition { get; }

    /// <summary>The highest watermark this device has been advanced to.</summary>
    public long Watermark { get; private set; } = Time.Watermark.Start;

    public int PaneCount => _panes.Count;

    /// <summary>Windows fired by this instance (not carried by snapshots): a statistic for operators.</summary>
    public long WindowsFired { get; private set; }

    /// <summary>Windows fired and not yet closed: the rows late events can still revise.</summary>
    public int FiredWindowCount => _fired.Count;

    /// <summary>Whether there is anything to remember: no panes, no fired windows, nothing to write.</summary>
    public bool IsEmpty => _panes.IsEmpty && _fired.Count == 0 && _closedRows.Count == 0;

    /// <summary>Whether there are rows to write: fired or revised windows not yet taken, or closed rows.</summary>
    public bool HasResults => _dirty > 0 || _closedRows.Count > 0;

    /// <summary>
    /// Applies one event judged by <paramref name="watermark"/>, the partition's watermark before it.
    /// The device first catches up with that watermark, so that it does not matter whether the
    /// timers that would have advanced it arrived.
    /// <para>
    /// Precondition: <see cref="Partitions.RecordJudge"/> judged the event not too late by
    /// <paramref name="watermark"/>, and this device has not been advanced past that watermark; the
    /// device trusts the verdict and does not judge again. Should an event too late for this device's
    /// watermark come anyway, no row changes: every window holding its pane is closed, so the range of
    /// fired windows to revise is empty, and the shared partial, which may note the value, serves only
    /// windows holding all of its panes, closed too. The pane goes at the next wake-up, with every
    /// pane no open window holds.
    /// </para>
    /// </summary>
    public EventTiming Add(long eventTime, double value, long watermark)
    {
        Advance(watermark);
        var spec = _settings.Spec;
        var pane = spec.PaneOf(eventTime);
        _panes.Add(pane, value);
        if (spec.FirstEndOf(pane) > Watermark)
        {
            _wake = Math.Min(_wake, spec.FirstEndOf(pane));
            return EventTiming.OnTime;
        }
        // Only a late event can reach a pane of the shared partial: its panes all lie in
        // windows that have fired.
        _shared.Added(pane, value);
        // The pane's windows not yet fired fire at the next end.
        if (spec.LastEndOf(pane) > Watermark) _wake = Math.Min(_wake, spec.NextEndAfter(Watermark));

        // Fired windows holding the pane: ends up to the watermark, skipping the closed ones.
        var firstOpenEnd = spec.NextEndAfter(Watermark - _settings.AllowedLateness);
        var from = Math.Max(spec.FirstEndOf(pane), firstOpenEnd);
        var to = Math.Min(spec.LastEndOf(pane), Watermark);
        for (var end = from; end <= to; end += spec.Slide) Revise(end, value);
        return EventTiming.Late;
    }

    /// <summary>
    /// Moves this device's view of the watermark up: windows with end ≤ watermark fire (those
    /// holding events), windows with end + lateness ≤ watermark close, and panes no open window
    /// can use any more are dropped. A watermark at or below the current one changes nothing.
    /// </summary>
    public void Advance(long watermark)
    {
        if (watermark <= Watermark) return;
        // Nothing fires, closes or drops before the wake-up time: the partition's watermark moves
        // with nearly every record, and this keeps each of those moves O(1) for the device.
        if (watermark < _wake)
        {
            Watermark = watermark;
            return;
        }
        Fire(watermark);
        Watermark = watermark;
        Close();
        DropPanes();
        // Once per slide, when a window fires: compacts the pane the device has moved on from
        // and repacks those that took out-of-order or late events since. Not at the moment the
        // device moves on, when stragglers of the last seconds are still to come and would each
        // reopen the pane.
        _panes.CompactAllButNewest();
        _wake = ComputeWakeUp();
    }

    /// <summary>
    /// The rows to write since the last call: every window that fired or was revised (with its
    /// current figures) and every window that closed (final). Revisions count every late event,
    /// so the rows are the same whenever this is called.
    /// </summary>
    public IReadOnlyList<WindowPart> TakeResults(long nowMs)
    {
        if (!HasResults) return [];
        var rows = new List<WindowPart>(_closedRows.Count + _dirty);
        foreach (var part in _closedRows) rows.Add(part with { Row = part.Row with { LastUpdated = nowMs } });
        _closedRows.Clear();
        var ends = _fired.Keys;
        var windows = _fired.Values;
        for (var i = 0; i < windows.Count; i++)
        {
            var window = windows[i];
            if (!window.Dirty) continue;
            var part = Materialize(ends[i], window, final: false, nowMs);
            window.Last = part.Row.Count > KeptRowMinimum * _settings.Compression ? part : null;
            window.Dirty = false;
            rows.Add(part);
        }
        _dirty = 0;
        return rows;
    }

    /// <summary>
    /// The windows that have not fired yet and hold events, as they stand now: parts materialised from the
    /// panes, revision 0 (no row of theirs has been written), not final, stamped <paramref name="nowMs"/>,
    /// in order of their ends. Reads only: nothing fires, no pane changes, the rows to write stay as they were.
    /// </summary>
    public IReadOnlyList<WindowPart> OpenWindows(long nowMs)
    {
        var spec = _settings.Spec;
        var ends = new SortedSet<long>();
        var firstOpen = NextEndAfterWatermark();
        foreach (var pane in _panes.Indexes)
        {
            for (var end = Math.Max(spec.FirstEndOf(pane), firstOpen); end <= spec.LastEndOf(pane); end += spec.Slide) ends.Add(end);
        }

        // Straight from the panes, not through the shared partial: that one follows the fired windows and must not move.
        return ends.Select(end =>
        {
            var digest = _panes.Merge(spec.FirstPaneOf(end), spec.LastPaneOf(end))
                ?? throw new InvalidOperationException($"open window ending {end} of {DeviceId} without events");
            return new WindowPart(Partition, WindowResult.Of(DeviceId, spec.StartOf(end), end, digest, 0, false, nowMs), digest.ToBytes());
        }).ToList();
    }

    /// <summary>
    /// The watermark at which this device next has something to do (a window to fire or to
    /// close); <see cref="long.MaxValue"/> when nothing is pending. Panes need no timer of their
    /// own: a pane is dropped exactly when the window it opens closes.
    /// </summary>
    public long NextWakeUp() => _wake;

    private long ComputeWakeUp()
    {
        var next = long.MaxValue;
        if (_fired.Count > 0) next = _settings.CloseTimeOf(_fired.Keys[0]);
        var spec = _settings.Spec;
        foreach (var pane in _panes.Indexes)
        {
            if (spec.LastEndOf(pane) <= Watermark) continue;
            var fire = Math.Max(spec.FirstEndOf(pane), NextEndAfterWatermark());
            return Math.Min(next, fire);
        }
        return next;
    }

    private void Fire(long watermark)
    {
        // The ends to fire are the union, clipped to (Watermark, watermark], of each pane's window
        // ends; panes are sorted, so one sweep visits each end once even after a jump of years.
        var spec = _settings.Spec;
        var cursor = NextEndAfterWatermark();
        foreach (var pane in _panes.Indexes)
        {
            var from = Math.Max(spec.FirstEndOf(pane), cursor);
            var to = Math.Min(spec.LastEndOf(pane), watermark);
            for (var end = from; end <= to; end += spec.Slide)
            {
                _fired.Add(end, new FiredWindow { Revision = 1, Dirty = true });
                _dirty++;
                WindowsFired++;
            }
            cursor = Math.Max(cursor, spec.NextEndAfter(to));
        }
    }

    private void Revise(long end, double value)
    {
        if (_fired.TryGetValue(end, out var window))
        {
            if (window.Last is not null) (window.Late ??= []).Add(value);
            window.Revision++;
            if (!window.Dirty) _dirty++;
            window.Dirty = true;
        }
        else
        {
            // The window fired empty, so it had no row: this late event creates it.
            _fired.Add(end, new FiredWindow { Revision = 1, Dirty = true });
            _dirty++;
            _wake = Math.Min(_wake, _settings.CloseTimeOf(end));
        }
    }

    private void Close()
    {
        while (_fired.Count > 0 && _settings.CloseTimeOf(_fired.Keys[0]) <= Watermark)
        {
            var end = _fired.Keys[0];
            var window = _fired.Values[0];
            _closedRows.Add(window.Dirty || window.Last is null
                ? Materialize(end, window, final: true, 0)
                : window.Last with { Row = window.Last.Row with { Final = true } });
            if (window.Dirty) _dirty--;
            _fired.RemoveAt(0);
        }
    }

    private void DropPanes()
    {
        long? keep = null;
        foreach (var pane in _panes.Indexes)
        {
            if (_settings.DropTimeOf(pane) > Watermark) break;
            keep = pane + 1;
        }
        if (keep is not { } below) return;
        _panes.DropBelow(below);
        _shared.DropBelow(below);
    }

    private long NextEndAfterWatermark() =>
        Watermark == Time.Watermark.Start ? long.MinValue : _settings.Spec.NextEndAfter(Watermark);

    private WindowPart Materialize(long end, FiredWindow window, bool final, long nowMs)
    {
        var spec = _settings.Spec;
        var digest = t_window is { } scratch && scratch.Compression == _settings.Compression ? scratch : t_window = new TDigest(_settings.Compression);
        if (window is { Last: { } last, Late: { } late })
        {
            digest = TDigest.ReadInto(last.Digest, digest);
            foreach (var value in late) digest.Add(value);
        }
        else if (!_shared.Window(_panes, spec.FirstPaneOf(end), spec.LastPaneOf(end), digest))
        {
            throw new InvalidOperationException($"window ending {end} of {DeviceId} fired without events");
        }
        window.Late = null;
        var first = !window.Taken;
        window.Taken = true;
        return new WindowPart(Partition, WindowResult.Of(DeviceId, spec.StartOf(end), end, digest, window.Revision, final, nowMs), digest.ToBytes())
        {
            FirstRow = first,
        };
    }

    /// <summary>A window that has fired and still takes late events.</summary>
    private sealed class FiredWindow
    {
        public int Revision;

        /// <summary>Changed since its row was last taken.</summary>
        public bool Dirty;

        /// <summary>
        /// A row of it has been made: the next is not its first (<see cref="WindowPart.FirstRow"/>). Not in
        /// snapshots: a restored window counts as taken, since whether its row was made before is not known.
        /// </summary>
        public bool Taken;

        /// <summary>The last part taken, reused when the window closes unchanged; null for a small window (see <see cref="KeptRowMinimum"/>).</summary>
        public WindowPart? Last;

        /// <summary>The late values that reached the window since <see cref="Last"/> was taken.</summary>
        public List<double>? Late;
    }
}
