using Confluent.Kafka;

namespace MetricsCollector.Partitions;

/// <summary>One record for a side topic, and the partition of it that holds this source partition's side records.</summary>
/// <param name="OriginalSize">The value's size before it was cut to fit the topic; null when it is whole.</param>
public sealed record SideRecord(string Topic, int Partition, byte[]? Key, byte[] Value, string Reason, int? OriginalSize)
{
    public long Size => (Key?.Length ?? 0) + Value.Length;
}

/// <summary>
/// How side records are held: the size a record is cut to (the producer's <c>message.max.bytes</c>), the
/// bytes pending ones may take before the partition waits, the retry backoff. See <c>metrics-collector.partitions</c>.
/// </summary>
public sealed record SideOutputSettings
{
    public required int MaxRecordBytes { get; init; }

    public required long MaxPendingBytes { get; init; }

    public required TimeSpan FirstRetry { get; init; }

    public required TimeSpan MaxRetry { get; init; }
}

/// <summary>What to do after a side record failed: send <see cref="Record"/> again after <see cref="Delay"/>.</summary>
/// <param name="Attempts">Failures of this record so far (0 when it was only cut to a smaller size).</param>
public sealed record SideRetry(SideRecord Record, TimeSpan Delay, int Attempts);

/// <summary>
/// The side records of one partition (dead-letter, too-late) on their way to their topics: which were
/// already delivered by an earlier owner (<see cref="SideLedger"/>), which are pending, how records too
/// large for a topic are cut to fit, and how failures are retried. Nothing is ever dropped: a record that
/// cannot be produced is retried with backoff, holds the partition's commits below it, and shows as held
/// back; the memory pending records take is bounded by <see cref="Full"/>, at which the partition stops
/// taking records. Plain state, driven by the partition actor.
/// </summary>
public sealed class SideOutputs
{
    /// <summary>Room for the headers and the record framing beside key and value.</summary>
    private const int Overhead = 1024;

    /// <summary>Below this a record is not cut further: a topic that refuses a kilobyte has another problem.</summary>
    private const int SmallestCut = 1024;

    private readonly Dictionary<string, SideLedger> _ledgers;
    private readonly SortedDictionary<long, Pending> _pending = new();
    private readonly Dictionary<string, int> _caps = new();
    private readonly SideOutputSettings _settings;
    private int _failing;

    public SideOutputs(IEnumerable<SideLedger> ledgers, SideOutputSettings settings)
    {
        _ledgers = ledgers.ToDictionary(l => l.Topic);
        _settings = settings;
    }

    /// <summary>Bytes of records handed over and not yet delivered.</summary>
    public long PendingBytes { get; private set; }

    public int PendingCount => _pending.Count;

    /// <summary>Enough is pending that the partition must wait for deliveries before it takes more records.</summary>
    public bool Full => PendingBytes >= _settings.MaxPendingBytes;

    /// <summary>Some record has failed and not gone through yet: the partition's commits are held back by a side topic.</summary>
    public bool HeldBack => _failing > 0;

    /// <summary>The lowest source offset whose side record is not delivered yet.</summary>
    public long? LowestPending => _pending.Count == 0 ? null : _pending.Keys.First();

    public IEnumerable<SideLedger> Ledgers => _ledgers.Values;

    /// <summary>
    /// The record of source offset <paramref name="offset"/> for <paramref name="topic"/>, cut to fit if it is
    /// too large; null when an earlier owner already delivered it (a replay after a crash).
    /// </summary>
    public SideRecord? Divert(long offset, string topic, byte[]? key, byte[] value, string reason)
    {
        var ledger = _ledgers[topic];
        if (ledger.Holds(offset)) return null;
        var record = Fit(new SideRecord(topic, ledger.Partition, key, value, reason, null));
        _pending[offset] = new Pending(record);
        PendingBytes += record.Size;
        return record;
    }

    public void Delivered(long offset, long sideOffset)
    {
        if (!_pending.Remove(offset, out var pending)) return;
        PendingBytes -= pending.Record.Size;
        if (pending.Attempts > 0) _failing--;
        _ledgers[pending.Record.Topic].Delivered(sideOffset);
    }

    /// <summary>
    /// The record of <paramref name="offset"/> failed with <paramref name="error"/>. Too large for its topic:
    /// it is cut to half and sent again at once, and so is every later record of that topic. Anything else:
    /// sent again after a backoff that doubles up to its maximum. Null when it is no longer pending.
    /// </summary>
    public SideRetry? Failed(long offset, ErrorCode error)
    {
        if (!_pending.TryGetValue(offset, out var pending)) return null;
        var record = pending.Record;
        if (IsTooLarge(error) && record.Value.Length > SmallestCut)
        {
            _caps[record.Topic] = Math.Max(SmallestCut, Math.Min(CapOf(record.Topic, record.Key), record.Value.Length / 2));
            var cut = Fit(record);
            PendingBytes += cut.Size - record.Size;
            pending.Record = cut;
            return new SideRetry(cut, TimeSpan.Zero, pending.Attempts);
        }
        if (pending.Attempts++ == 0) _failing++;
        var backoff = _settings.FirstRetry * Math.Pow(2, Math.Min(pending.Attempts - 1, 16));
        return new SideRetry(record, backoff < _settings.MaxRetry ? backoff : _settings.MaxRetry, pending.Attempts);
    }

    /// <summary>The record of <paramref name="offset"/> if it is still pending.</summary>
    public SideRecord? PendingRecord(long offset) => _pending.TryGetValue(offset, out var pending) ? pending.Record : null;

    /// <summary>The marks for a checkpoint at <paramref name="offset"/> (see <see cref="SideLedger.MarkAt"/>).</summary>
    public IReadOnlyList<SideMark> MarksAt(long offset) => _ledgers.Values.Select(l => l.MarkAt(offset)).ToList();

    private static bool IsTooLarge(ErrorCode error) =>
        error is ErrorCode.MsgSizeTooLarge or ErrorCode.RecordListTooLarge;

    private int CapOf(string topic, byte[]? key) =>
        _caps.TryGetValue(topic, out var cap) ? cap : Math.Max(SmallestCut, _settings.MaxRecordBytes - (key?.Length ?? 0) - Overhead);

    /// <summary>Cut to what the topic takes; the size before the first cut is kept for the <c>original-size</c> header.</summary>
    private SideRecord Fit(SideRecord record)
    {
        var cap = CapOf(record.Topic, record.Key);
        if (record.Value.Length <= cap) return record;
        return record with { Value = record.Value[..cap], OriginalSize = record.OriginalSize ?? record.Value.Length };
    }

    private sealed class Pending(SideRecord record)
    {
        public SideRecord Record = record;
        public int Attempts;
    }
}
