using System.Buffers;
using System.Buffers.Binary;
using MetricsCollector.Core.Digests;

namespace MetricsCollector.Core.Windows;

/// <summary>
/// The panes of one device: what it read in each slide-long stretch of event time, in pane order.
/// </summary>
/// <remarks>
/// <para>
/// A pane takes the device's in-order events while it is the newest, and afterwards only
/// out-of-order and late ones. Panes that take events are t-digests ("live"); the others are
/// idle, and an idle pane of readings of a few decimals is its decimal form alone (see
/// <see cref="TDigest.Compact"/>), kept back to back with the other idle panes in one array.
/// A digest object, its arrays and a list's slot for each of 40 panes cost more than the
/// readings themselves: at one event every 10 s (six readings a pane) about 190 bytes a pane
/// against 22. One array is also what a window build reads, instead of 30 objects spread over
/// the heap; with thousands of devices those were cache misses.
/// </para>
/// <para>
/// An idle pane is exactly the compacted digest it was made from: a value for it turns it back
/// into that digest (<see cref="TDigest.FromDecimalForm"/>), and window builds and snapshots read
/// it as that digest. So which form a pane is in never changes an answer or a snapshot.
/// </para>
/// <para>
/// Idle entry, in pane order: varint (pane − <see cref="_base"/>), byte flags (bit 0: the digest's
/// next merge runs right to left; bit 1: its values are not yet merged to δ), varint count,
/// double sum, varint length of the decimal form, the decimal form.
/// </para>
/// </remarks>
internal sealed class PaneSet
{
    private const byte FlagMergeRightToLeft = 1;
    private const byte FlagUncompressed = 2;

    private readonly double _compression;

    // Live panes, in pane order: the newest, panes reopened by stragglers since the last
    // compaction, and panes whose values have no decimal form. Usually one to three.
    private long[] _liveIndexes = new long[2];
    private TDigest[] _liveDigests = new TDigest[2];
    private int _liveCount;

    // Idle panes, entries as described above, in _idle[.._idleLength].
    private byte[] _idle = [];
    private int _idleLength;
    private long _base;

    // The highest idle pane, while there is one: a device's next pane lies beyond it, and
    // finding that out by reading every entry was a cache miss a pane at 10,000 devices. It
    // takes the room of a count of the idle entries, which only snapshots and statistics read
    // (see Count), so that a device's memory does not grow.
    private long _idleNewest;

    // The pane the last value went to: the next one nearly always goes there too.
    private long _lastPane;
    private TDigest? _lastDigest;

    public PaneSet(double compression) => _compression = compression;

    /// <summary>How many panes there are; reads every idle entry.</summary>
    public int Count
    {
        get
        {
            var count = _liveCount;
            var reader = new IdleReader(this);
            while (reader.Next()) count++;
            return count;
        }
    }

    public bool IsEmpty => _liveCount == 0 && _idleLength == 0;

    /// <summary>The panes' indexes in ascending order.</summary>
    public Enumerator Indexes => new(this);

    public void Add(long pane, double value)
    {
        if (_lastDigest is null || pane != _lastPane)
        {
            _lastDigest = Live(pane);
            _lastPane = pane;
        }

        _lastDigest.Add(value);
    }

    /// <summary>Restores a pane from a snapshot; panes come in ascending order.</summary>
    public void Put(long pane, TDigest digest)
    {
        _lastDigest = null;
        if (_liveCount > 0 && _liveIndexes[_liveCount - 1] >= pane)
        {
            throw new InvalidOperationException("panes are restored in ascending order");
        }

        if (digest.TryGetDecimalForm(out var run, out var rightToLeft, out var compressed))
        {
            var writer = new IdleWriter(_idle, _idleLength, _base);
            writer.Append(pane, Flags(rightToLeft, compressed), run);
            (_idle, _idleLength, _base, _idleNewest) = writer.Finish();
        }
        else
        {
            InsertLive(_liveCount, pane, digest);
        }
    }

    /// <summary>Each pane's index and digest in the t-digest wire format, in pane order, as a snapshot keeps them.</summary>
    public IEnumerable<(long Pane, byte[] Digest)> ToBytes()
    {
        var live = 0;
        var reader = new IdleReader(this);
        var moreIdle = reader.Next();
        while (live < _liveCount || moreIdle)
        {
            if (live < _liveCount && (!moreIdle || _liveIndexes[live] < reader.Pane))
            {
                yield return (_liveIndexes[live], _liveDigests[live].ToBytes());
                live++;
            }
            else
            {
                yield return (reader.Pane, Digest(reader).ToBytes());
                moreIdle = reader.Next();
            }
        }
    }

    /// <summary>Merges the panes in <c>[firstPane, lastPane]</c> into a new digest; null when all are empty.</summary>
    public TDigest? Merge(long firstPane, long lastPane)
    {
        var merged = new TDigest(_compression);
        return MergeInto(firstPane, lastPane, merged) ? merged : null;
    }

    /// <summary>
    /// Merges the panes in <c>[firstPane, lastPane]</c> into <paramref name="into"/> (emptied
    /// first, see <see cref="TDigest.MergeAllInto(ReadOnlySpan{TDigest}, TDigest)"/>); whether they held anything.
    /// </summary>
    public bool MergeInto(long firstPane, long lastPane, TDigest into)
    {
        var selection = PaneSelection.Rent();
        try
        {
            Collect(firstPane, lastPane, selection);
            TDigest.MergeAllInto(selection.Inputs, into);
            return selection.Any;
        }
        finally
        {
            selection.Return();
        }
    }

    /// <summary>Adds the panes in <c>[firstPane, lastPane]</c> to <paramref name="selection"/>, in pane order.</summary>
    public void Collect(long firstPane, long lastPane, PaneSelection selection)
    {
        var live = LiveLowerBound(firstPane);
        var reader = new IdleReader(this);
        var moreIdle = reader.Next();
        while (moreIdle && reader.Pane < firstPane) moreIdle = reader.Next();
        moreIdle &= reader.Pane <= lastPane;
        while ((live < _liveCount && _liveIndexes[live] <= lastPane) || moreIdle)
        {
            if (live < _liveCount && _liveIndexes[live] <= lastPane && (!moreIdle || _liveIndexes[live] < reader.Pane))
            {
                selection.Add(new MergeInput(_liveDigests[live++]));
            }
            else
            {
                selection.Add(new MergeInput(reader.Run(_idle)));
                moreIdle = reader.Next() && reader.Pane <= lastPane;
            }
        }
    }

    /// <summary>How many values the panes in <c>[firstPane, lastPane]</c> hold.</summary>
    public long CountIn(long firstPane, long lastPane)
    {
        long count = 0;
        for (var i = LiveLowerBound(firstPane); i < _liveCount && _liveIndexes[i] <= lastPane; i++)
        {
            count += _liveDigests[i].Count;
        }

        var reader = new IdleReader(this);
        while (reader.Next() && reader.Pane <= lastPane)
        {
            if (reader.Pane >= firstPane) count += reader.Count;
        }

        return count;
    }

    /// <summary>
    /// Compacts every pane but the newest, and keeps those that then hold only a decimal form as
    /// idle entries. The newest takes the device's in-order events and keeps its buffer. A pane
    /// that took no value since it was last compacted is idle already and costs nothing here.
    /// </summary>
    public void CompactAllButNewest()
    {
        var newest = NewestPane();
        var moved = false;
        for (var i = 0; i < _liveCount; i++)
        {
            if (_liveIndexes[i] == newest) continue;
            _liveDigests[i].Compact();
            moved |= _liveDigests[i].TryGetDecimalForm(out _, out _, out _);
        }

        if (!moved) return;

        // Rebuilt in pane order from the idle entries and the live panes that became idle.
        var rented = ArrayPool<byte>.Shared.Rent(_idleLength + (_liveCount * 40) + MovedSize(newest));
        try
        {
            var writer = new IdleWriter(rented, 0, long.MinValue);
            var reader = new IdleReader(this);
            var keep = 0;
            var more = reader.Next();
            for (var i = 0; i < _liveCount; i++)
            {
                var pane = _liveIndexes[i];
                while (more && reader.Pane < pane)
                {
                    writer.Append(reader.Pane, reader.Flags, reader.Run(_idle));
                    more = reader.Next();
                }

                if (pane != newest && _liveDigests[i].TryGetDecimalForm(out var run, out var rightToLeft, out var compressed))
                {
                    writer.Append(pane, Flags(rightToLeft, compressed), run);
                    if (ReferenceEquals(_lastDigest, _liveDigests[i])) _lastDigest = null;
                }
                else
                {
                    _liveIndexes[keep] = pane;
                    _liveDigests[keep++] = _liveDigests[i];
                }
            }

            while (more)
            {
                writer.Append(reader.Pane, reader.Flags, reader.Run(_idle));
                more = reader.Next();
            }

            Array.Clear(_liveDigests, keep, _liveCount - keep);
            _liveCount = keep;
            var (bytes, length, @base, last) = writer.Finish();
            if (_idle.Length < length || _idle.Length > 2 * length + 64) _idle = new byte[length + (length / 4)];
            bytes.AsSpan(0, length).CopyTo(_idle);
            (_idleLength, _base, _idleNewest) = (length, @base, last);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Drops every pane below <paramref name="pane"/>.</summary>
    public void DropBelow(long pane)
    {
        if (_lastPane < pane) _lastDigest = null;
        var drop = LiveLowerBound(pane);
        if (drop > 0)
        {
            Array.Copy(_liveIndexes, drop, _liveIndexes, 0, _liveCount - drop);
            Array.Copy(_liveDigests, drop, _liveDigests, 0, _liveCount - drop);
            Array.Clear(_liveDigests, _liveCount - drop, drop);
            _liveCount -= drop;
        }

        var reader = new IdleReader(this);
        var more = reader.Next();
        while (more && reader.Pane < pane) more = reader.Next();
        if (reader.Start > 0) RemoveIdle(0, reader.Start);
    }

    /// <summary>The live digest of <paramref name="pane"/>: the one there is, the idle pane turned back into its digest, or a new one.</summary>
    private TDigest Live(long pane)
    {
        var at = LiveLowerBound(pane);
        if (at < _liveCount && _liveIndexes[at] == pane) return _liveDigests[at];

        TDigest? digest = null;
        var reader = new IdleReader(this);
        var before = long.MinValue;
        while (_idleLength > 0 && pane <= _idleNewest && reader.Next() && reader.Pane <= pane)
        {
            if (reader.Pane != pane)
            {
                before = reader.Pane;
                continue;
            }

            digest = Digest(reader);
            RemoveIdle(reader.Start, reader.End);
            if (pane == _idleNewest) _idleNewest = before;
            break;
        }

        digest ??= new TDigest(_compression);
        InsertLive(at, pane, digest);
        return digest;
    }

    /// <summary>The digest the idle entry under <paramref name="reader"/> was made from, in the state it was in.</summary>
    private TDigest Digest(in IdleReader reader) =>
        TDigest.FromDecimalForm(_compression, reader.Run(_idle), (reader.Flags & FlagMergeRightToLeft) != 0, (reader.Flags & FlagUncompressed) == 0);

    private void InsertLive(int at, long pane, TDigest digest)
    {
        if (_liveCount == _liveIndexes.Length)
        {
            Array.Resize(ref _liveIndexes, _liveCount * 2);
            Array.Resize(ref _liveDigests, _liveCount * 2);
        }

        Array.Copy(_liveIndexes, at, _liveIndexes, at + 1, _liveCount - at);
        Array.Copy(_liveDigests, at, _liveDigests, at + 1, _liveCount - at);
        _liveIndexes[at] = pane;
        _liveDigests[at] = digest;
        _liveCount++;
    }

    /// <summary>Removes the idle entries in <c>_idle[start..end]</c>.</summary>
    private void RemoveIdle(int start, int end)
    {
        Array.Copy(_idle, end, _idle, start, _idleLength - end);
        _idleLength -= end - start;
    }

    private long NewestPane() =>
        Math.Max(_liveCount > 0 ? _liveIndexes[_liveCount - 1] : long.MinValue, _idleLength > 0 ? _idleNewest : long.MinValue);

    /// <summary>At least the bytes the live panes but the newest take as idle entries.</summary>
    private int MovedSize(long newest)
    {
        var size = 0;
        for (var i = 0; i < _liveCount; i++)
        {
            if (_liveIndexes[i] != newest && _liveDigests[i].TryGetDecimalForm(out var run, out _, out _)) size += run.Form.Length;
        }

        return size;
    }

    private static byte Flags(bool mergeRightToLeft, bool compressed) =>
        (byte)((mergeRightToLeft ? FlagMergeRightToLeft : 0) | (compressed ? 0 : FlagUncompressed));

    /// <summary>Index of the first live pane at or after <paramref name="pane"/>.</summary>
    private int LiveLowerBound(long pane)
    {
        var i = 0;
        while (i < _liveCount && _liveIndexes[i] < pane) i++;
        return i;
    }

    /// <summary>The panes' indexes in ascending order: the live and the idle ones, merged.</summary>
    public struct Enumerator
    {
        private readonly PaneSet _set;
        private IdleReader _idle;
        private bool _moreIdle;
        private int _live;

        internal Enumerator(PaneSet set)
        {
            _set = set;
            _idle = new IdleReader(set);
            _moreIdle = _idle.Next();
            _live = 0;
            Current = 0;
        }

        public long Current { get; private set; }

        public readonly Enumerator GetEnumerator() => this;

        public bool MoveNext()
        {
            var hasLive = _live < _set._liveCount;
            if (!hasLive && !_moreIdle) return false;
            if (hasLive && (!_moreIdle || _set._liveIndexes[_live] < _idle.Pane))
            {
                Current = _set._liveIndexes[_live++];
            }
            else
            {
                Current = _idle.Pane;
                _moreIdle = _idle.Next();
            }

            return true;
        }
    }

    /// <summary>Walks the idle entries in order.</summary>
    private struct IdleReader(PaneSet set)
    {
        private readonly byte[] _bytes = set._idle;
        private readonly int _length = set._idleLength;
        private readonly long _base = set._base;

        public long Pane { get; private set; }

        public byte Flags { get; private set; }

        public int Count { get; private set; }

        /// <summary>Where the current entry starts.</summary>
        public int Start { get; private set; }

        /// <summary>Where the current entry ends, and the next one starts.</summary>
        public int End { get; private set; }

        private double _sum;
        private int _form;
        private int _formLength;

        public bool Next()
        {
            Start = End;
            if (Start >= _length) return false;
            var pos = Start;
            Pane = _base + (long)TDigest.ReadVarint(_bytes, ref pos);
            Flags = _bytes[pos++];
            Count = (int)TDigest.ReadVarint(_bytes, ref pos);
            _sum = BinaryPrimitives.ReadDoubleLittleEndian(_bytes.AsSpan(pos));
            pos += 8;
            _formLength = (int)TDigest.ReadVarint(_bytes, ref pos);
            _form = pos;
            End = pos + _formLength;
            return true;
        }

        public readonly DecimalRun Run(byte[] bytes) => new(bytes.AsMemory(_form, _formLength), Count, _sum);
    }

    /// <summary>Writes idle entries in pane order into an array it grows as needed.</summary>
    private struct IdleWriter(byte[] bytes, int length, long @base)
    {
        private byte[] _bytes = bytes;
        private int _length = length;
        private long _base = @base;
        private long _last;

        public void Append(long pane, byte flags, DecimalRun run)
        {
            if (_length == 0) _base = pane;
            _last = pane;
            var size = (3 * 10) + 1 + 8 + run.Form.Length;
            if (_bytes.Length - _length < size) Array.Resize(ref _bytes, Math.Max(_length + size, _bytes.Length * 2));
            _length += TDigest.WriteVarint(_bytes.AsSpan(_length), (ulong)(pane - _base));
            _bytes[_length++] = flags;
            _length += TDigest.WriteVarint(_bytes.AsSpan(_length), (ulong)run.Count);
            BinaryPrimitives.WriteDoubleLittleEndian(_bytes.AsSpan(_length), run.Sum);
            _length += 8;
            _length += TDigest.WriteVarint(_bytes.AsSpan(_length), (ulong)run.Form.Length);
            run.Form.Span.CopyTo(_bytes.AsSpan(_length));
            _length += run.Form.Length;
        }

        /// <summary>The entries, and the last pane appended: the newest, as entries go in pane order.</summary>
        public readonly (byte[] Bytes, int Length, long Base, long Newest) Finish() => (_bytes, _length, _base, _last);
    }
}
