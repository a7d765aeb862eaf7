using MetricsCollector.Core.Time;

namespace MetricsCollector.Partitions;

/// <summary>
/// The commit logic of one partition: which offset it may commit, with which checkpoint. Plain
/// state, driven by the partition actor and tested on its own.
/// <para>
/// Kafka is the event log: a commit at offset C promises that a replay from C, judged from the
/// checkpoint saved with it, rebuilds everything not yet stored. So C may not pass
/// </para>
/// <list type="bullet">
/// <item>a message to a device that no snapshot of the device holds yet (<see cref="Sent"/>,
/// <see cref="Covered"/>): records, and watermark wake-ups too, since a device restored from an older
/// snapshot must be woken again;</item>
/// <item>a side record not yet in its topic (the caller passes the lowest such offset).</item>
/// </list>
/// <para>
/// A checkpoint is taken whenever the watermark may have moved (<see cref="TakeCheckpoint"/>). The
/// one committed is the latest at or below the safe offset, and it keeps what a replay from it needs:
/// the watermark before its offset, the side marks of that moment, the timers that were pending at
/// that moment (those still pending, and those that fired since and whose devices may not have
/// snapshotted the wake-up), and the idle jumps made at or after its offset.
/// </para>
/// <para>
/// It also knows how far the partition's watermark is stored (<see cref="FinalThrough"/>): every window
/// that closes at or below it has its final part of this partition in the store, and no later record of
/// the partition can change it. The read side calls a row final only below every partition's.
/// </para>
/// </summary>
public sealed class CommitTracker
{
    private readonly Dictionary<string, Uncovered> _uncovered = new();
    private readonly List<Checkpoint> _checkpoints = new();
    private readonly EventTimeTimers<string> _timers = new();
    private readonly List<FiredTimer> _fired = new();

    // The timers of the last progress built, and what they were built from: the pending timers' version and
    // which fired timers (by their number since the start: fired ones are only appended, and forgotten from
    // the front). While both are the same, the next progress shares the table and its encoding.
    private long _timersVersion;
    private long _firedForgotten;
    private (TimerDictionary Table, long Version, long FirstFired, long EndFired)? _lastTimers;
    private readonly List<WatermarkJump> _jumps = new();
    private readonly int _maxCheckpoints;
    private long _nextCheckpointId;

    // Bumped by every change of what a progress holds besides its checkpoint and stored watermark: timers,
    // fired timers, jumps, the saved progress. With it, a Due that found nothing to save is remembered.
    private long _changes;
    private (long Checkpoint, long Changes, long FinalThrough)? _nothingDue;

    // The lowest first position and the lowest close of the uncovered lines. A hand-over covers every
    // device's line one by one and asks for both after each: finding them by a walk each time was quadratic.
    private Lowest _lowestPosition = Lowest.OfNone;
    private Lowest _lowestClose = Lowest.OfNone;

    /// <param name="start">Where the partition resumes: offset, watermark, timers and jumps to replay.</param>
    /// <param name="maxCheckpoints">
    /// How many checkpoints are kept while commits cannot move (a device that does not snapshot, a
    /// store that is down); past it the one with the closest neighbours goes, which only makes the eventual commit coarser.
    /// </param>
    public CommitTracker(PartitionProgress start, int maxCheckpoints = 256)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxCheckpoints, 2);
        _maxCheckpoints = maxCheckpoints;
        Saved = start;
        NextOffset = start.Offset;
        foreach (var (device, time) in start.Timers) _timers.Set(device, time);
        _lastTimers = (start.Timers, 0, 0, 0);
        _jumps.AddRange(start.Jumps);
    }

    /// <summary>The progress last saved (or the one started from).</summary>
    public PartitionProgress Saved { get; private set; }

    /// <summary>The offset of the next record to read.</summary>
    public long NextOffset { get; private set; }

    /// <summary>Devices that hold messages no snapshot of theirs covers.</summary>
    public int UncoveredDevices => _uncovered.Count;

    public IEnumerable<string> UncoveredDeviceIds => _uncovered.Keys;

    /// <summary>For an operator's log: the messages of <paramref name="device"/> no snapshot covers yet.</summary>
    public string DescribeUncovered(string device) =>
        _uncovered.TryGetValue(device, out var line) ? $"{device} messages {line.FirstSeq}-{line.LastSeq} from offset {line.FirstPosition}" : device;

    /// <summary>The <paramref name="count"/> devices whose uncovered messages go back furthest: those holding the commit.</summary>
    public IEnumerable<string> OldestUncovered(int count) =>
        _uncovered.OrderBy(line => line.Value.FirstPosition).Take(count).Select(line => line.Key);

    public int CheckpointCount => _checkpoints.Count;

    public IReadOnlyDictionary<string, long> PendingTimers => _timers.Pending;

    /// <summary>Idle jumps of the start progress not yet reached, in offset order: a replay makes them again.</summary>
    public IEnumerable<WatermarkJump> JumpsAhead => _jumps.Where(j => j.Offset >= NextOffset).OrderBy(j => j.Offset);

    /// <summary>Takes the record at <paramref name="offset"/>; false for one below the resume point (read again after a rebalance raced a commit).</summary>
    public bool Read(long offset)
    {
        if (offset < NextOffset) return false;
        NextOffset = offset + 1;
        return true;
    }

    /// <summary>
    /// Message <paramref name="seq"/> went to <paramref name="device"/>; its effect starts at <paramref name="position"/>
    /// (its first record, or the offset the partition had reached for a wake-up), and it may close windows only
    /// above <paramref name="closesAbove"/> (the watermark a device held before it; <see cref="long.MaxValue"/>
    /// for a message that closes none).
    /// </summary>
    public void Sent(string device, long seq, long position, long closesAbove)
    {
        if (_uncovered.TryGetValue(device, out var line))
        {
            line.LastSeq = seq;
            if (closesAbove >= line.ClosesAbove) return;
            _lowestClose.Removed(line.ClosesAbove);
            _lowestClose.Added(closesAbove);
            line.ClosesAbove = closesAbove;
        }
        else
        {
            _uncovered[device] = new Uncovered { FirstSeq = seq, FirstPosition = position, LastSeq = seq, ClosesAbove = closesAbove };
            _lowestPosition.Added(position);
            _lowestClose.Added(closesAbove);
        }
    }

    /// <summary>
    /// A snapshot of <paramref name="device"/> holds every message of this partition up to
    /// <paramref name="throughSeq"/>, and its records up to <paramref name="appliedOffset"/>. The next
    /// message's effect starts past that offset whatever it is: a run of later records, or a wake-up
    /// sent after them.
    /// </summary>
    public void Covered(string device, long throughSeq, long appliedOffset)
    {
        if (!_uncovered.TryGetValue(device, out var line) || throughSeq < line.FirstSeq) return;
        _lowestPosition.Removed(line.FirstPosition);
        if (throughSeq >= line.LastSeq)
        {
            _uncovered.Remove(device);
            _lowestClose.Removed(line.ClosesAbove);
            return;
        }
        line.FirstSeq = throughSeq + 1;
        line.FirstPosition = Math.Max(line.FirstPosition, appliedOffset + 1);
        _lowestPosition.Added(line.FirstPosition);
    }

    public void SetTimer(string device, long time)
    {
        if (_timers.Set(device, time)) _timersVersion++;
        _changes++;
    }

    /// <summary>The devices due at <paramref name="watermark"/>, with the time each asked for; each is remembered with the checkpoints before it.</summary>
    public IReadOnlyList<(string Device, long Time)> TakeDue(long watermark)
    {
        var due = _timers.TakeDueTimers(watermark);
        if (due.Count == 0) return due;
        _changes++;
        _timersVersion++;
        var after = _nextCheckpointId - 1;
        foreach (var (device, _) in due) _fired.Add(new FiredTimer(after, device, watermark));
        return due;
    }

    /// <summary>
    /// How far the partition's watermark is stored: <paramref name="watermark"/>, held below the lowest
    /// window close a message not yet snapshotted may bring. Never lower than what was saved before.
    /// </summary>
    public long FinalThrough(long watermark)
    {
        if (!_lowestClose.Known) _lowestClose = Lowest.Of(_uncovered.Values, static line => line.ClosesAbove);
        return Math.Max(Math.Min(watermark, _lowestClose.Value), Saved.FinalThrough);
    }

    /// <summary>The watermark jumps to <paramref name="watermark"/> at <see cref="NextOffset"/> (idle, or replayed).</summary>
    public void Jumped(long watermark)
    {
        _jumps.RemoveAll(j => j.Offset == NextOffset && j.Watermark <= watermark);
        _jumps.Add(new WatermarkJump(NextOffset, watermark));
        _changes++;
    }

    /// <summary>A point a replay can start from: <see cref="NextOffset"/>, judged by <paramref name="watermark"/>.</summary>
    public void TakeCheckpoint(long watermark, IReadOnlyList<SideMark> marks)
    {
        _checkpoints.Add(new Checkpoint(_nextCheckpointId++, NextOffset, watermark, marks));
        if (_checkpoints.Count > _maxCheckpoints) _checkpoints.RemoveAt(DensestInterior());
    }

    /// <summary>
    /// The checkpoint between the oldest (the commit candidate) and the newest whose neighbours lie closest
    /// together, so the kept ones stay spread evenly over the offsets not yet committed. The safe offset can
    /// be anywhere in that range and moves through all of it; halving by index instead thinned the old end
    /// again and again until no checkpoint was left between the candidate and the newest few, and under a
    /// steady stream the commit never moved.
    /// </summary>
    private int DensestInterior()
    {
        var densest = 1;
        var smallest = long.MaxValue;
        for (var i = 1; i < _checkpoints.Count - 1; i++)
        {
            var gap = _checkpoints[i + 1].Offset - _checkpoints[i - 1].Offset;
            if (gap >= smallest) continue;
            smallest = gap;
            densest = i;
        }

        return densest;
    }

    /// <summary>The lowest offset whose effect might not be stored yet: everything below it is safe to skip on replay.</summary>
    public long SafeOffset(long? lowestPendingSide)
    {
        if (!_lowestPosition.Known) _lowestPosition = Lowest.Of(_uncovered.Values, static line => line.FirstPosition);
        var safe = Math.Min(NextOffset, _lowestPosition.Value);
        if (lowestPendingSide is { } side) safe = Math.Min(safe, side);
        return safe;
    }

    /// <summary>
    /// The progress of the latest checkpoint at or below the safe offset, if a replay from it would differ
    /// from one from the saved progress or the stored watermark moved (<paramref name="watermark"/> is the live one).
    /// </summary>
    /// <remarks>
    /// Building a progress copies every pending timer and compares them with the saved ones. A partition
    /// handing over asks after each device's snapshot, one question per device, mostly to hear that the
    /// commit cannot move yet: asked again with nothing changed, the answer is remembered.
    /// </remarks>
    public DueProgress? Due(long? lowestPendingSide, long watermark)
    {
        if (_checkpoints.Count == 0) return null;
        var safe = SafeOffset(lowestPendingSide);
        var passed = 0;
        while (passed + 1 < _checkpoints.Count && _checkpoints[passed + 1].Offset <= safe) passed++;
        if (passed > 0) _checkpoints.RemoveRange(0, passed);
        var checkpoint = _checkpoints[0];
        var finalThrough = FinalThrough(watermark);
        var asked = (checkpoint.Id, _changes, finalThrough);
        if (_nothingDue == asked) return null;
        var progress = Saved with
        {
            Offset = checkpoint.Offset,
            Watermark = checkpoint.Watermark,
            Timers = TimersAt(checkpoint),
            SideMarks = checkpoint.Marks,
            Jumps = _jumps.Where(j => j.Offset >= checkpoint.Offset && j.Watermark > checkpoint.Watermark).OrderBy(j => j.Offset).ToList(),
            FinalThrough = finalThrough,
        };
        var due = progress.ResumesLike(Saved) && progress.FinalThrough == Saved.FinalThrough ? null : new DueProgress(progress, checkpoint.Id);
        _nothingDue = due is null ? asked : null;
        return due;
    }

    /// <summary><paramref name="due"/> is durable: what only replays from older checkpoints needed is forgotten.</summary>
    public void MarkSaved(DueProgress due)
    {
        Saved = due.Progress;
        _firedForgotten += _fired.RemoveAll(f => f.AfterCheckpoint < due.CheckpointId);
        _jumps.RemoveAll(j => j.Watermark <= due.Progress.Watermark);
        _changes++;
    }

    /// <summary>Only <paramref name="progress"/>'s side marks changed (saved before the first record).</summary>
    public void MarksSaved(PartitionProgress progress)
    {
        Saved = progress;
        _changes++;
    }

    /// <summary>Timers pending at the checkpoint: those pending now (extra wake-ups are harmless) and those fired since.</summary>
    /// <remarks>
    /// A copy, not an immutable dictionary: this runs for every commit, over every device of the partition with
    /// a timer, and building an immutable tree of them was a few percent of the data path's CPU. The copy is made
    /// only when the pending timers or the fired ones since the checkpoint changed since the last one.
    /// </remarks>
    private TimerDictionary TimersAt(Checkpoint checkpoint)
    {
        var first = FirstFiredAfter(checkpoint.Id);
        var key = (_timersVersion, _firedForgotten + first, _firedForgotten + _fired.Count);
        if (_lastTimers is { } last && (last.Version, last.FirstFired, last.EndFired) == key) return last.Table;

        var timers = new Dictionary<string, long>(_timers.Pending);
        for (var i = first; i < _fired.Count; i++)
        {
            var fired = _fired[i];
            if (!timers.TryGetValue(fired.Device, out var time) || fired.Time < time) timers[fired.Device] = fired.Time;
        }
        var table = TimerDictionary.Owning(timers);
        _lastTimers = (table, key.Item1, key.Item2, key.Item3);
        return table;
    }

    /// <summary>The index of the first timer fired after checkpoint <paramref name="id"/> was taken (they are in checkpoint order).</summary>
    private int FirstFiredAfter(long id)
    {
        int low = 0, high = _fired.Count;
        while (low < high)
        {
            var mid = (low + high) >>> 1;
            if (_fired[mid].AfterCheckpoint < id) low = mid + 1;
            else high = mid;
        }
        return low;
    }

    private sealed class Uncovered
    {
        public long FirstSeq;
        public long FirstPosition;
        public long LastSeq;
        public long ClosesAbove;
    }

    /// <summary>
    /// The lowest of the lines' values and how many lines hold it: a value leaving forgets it only when it was
    /// the last holder, and only then is it found again by a walk (ties are common: most runs close nothing).
    /// </summary>
    private struct Lowest
    {
        public static Lowest OfNone => new() { Value = long.MaxValue, Known = true };

        public long Value;
        public int Holders;
        public bool Known;

        public static Lowest Of(IEnumerable<Uncovered> lines, Func<Uncovered, long> of)
        {
            var lowest = OfNone;
            foreach (var line in lines) lowest.Added(of(line));
            return lowest;
        }

        public void Added(long value)
        {
            if (!Known || value > Value) return;
            Holders = value < Value ? 1 : Holders + 1;
            Value = value;
        }

        public void Removed(long value)
        {
            if (Known && value == Value && --Holders == 0) Known = false;
        }
    }

    private sealed record Checkpoint(long Id, long Offset, long Watermark, IReadOnlyList<SideMark> Marks);

    /// <summary>
    /// A timer that fired after the checkpoint <see cref="AfterCheckpoint"/> was taken. <see cref="Time"/>
    /// is the watermark that fired it rather than the time asked for: a replay passes through the same
    /// watermarks, so the first it reaches at or past either is this one, and the device wakes at the same point.
    /// </summary>
    private sealed record FiredTimer(long AfterCheckpoint, string Device, long Time);
}

/// <summary>A progress to save, and the checkpoint it was built from.</summary>
public sealed record DueProgress(PartitionProgress Progress, long CheckpointId);
