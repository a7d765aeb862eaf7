namespace MetricsCollector.Partitions;

/// <summary>
/// What one source partition has put into its partition of one side topic: which records an
/// earlier owner already delivered (so a replay does not produce them again), and the mark each
/// checkpoint keeps so that the next owner knows where to start looking.
/// <para>
/// The mark rule needs no ordering between delivery reports, retries or other partitions' records:
/// the broker gives a record its offset when it appends it, so a record handed to the producer
/// after the delivery report of offset d arrived lands beyond d. A checkpoint at source offset C is
/// taken after every record below C was handed over and before any at or past C, so one past the
/// highest offset reported delivered by then is a lower bound for every side record this owner
/// produces for offsets from C on. Records an earlier owner delivered for those offsets were found
/// by the start-up read, below that bound; the mark goes no higher than the lowest of them, so
/// that an owner crashing after this one still finds them.
/// </para>
/// </summary>
public sealed class SideLedger
{
    private readonly Dictionary<long, long> _earlier;
    private long _next;

    /// <param name="topic">The side topic.</param>
    /// <param name="partition">Its partition that holds this source partition's side records.</param>
    /// <param name="end">The partition's end offset when it was read: everything produced from now on lands at or past it.</param>
    /// <param name="earlier">Side records already there: source offset → side offset.</param>
    public SideLedger(string topic, int partition, long end, IReadOnlyDictionary<long, long> earlier)
    {
        Topic = topic;
        Partition = partition;
        _next = end;
        _earlier = new Dictionary<long, long>(earlier);
    }

    public string Topic { get; }

    public int Partition { get; }

    /// <summary>Whether the side record of <paramref name="sourceOffset"/> is already in the topic.</summary>
    public bool Holds(long sourceOffset) => _earlier.ContainsKey(sourceOffset);

    public void Delivered(long sideOffset) => _next = Math.Max(_next, sideOffset + 1);

    /// <summary>
    /// The mark for a checkpoint at <paramref name="checkpoint"/>; call it when the checkpoint is
    /// taken, never later. Checkpoints come in offset order, so what lies below this one is
    /// forgotten: it has been replayed past.
    /// </summary>
    public SideMark MarkAt(long checkpoint)
    {
        var mark = _next;
        List<long>? passed = null;
        foreach (var (source, side) in _earlier)
        {
            if (source < checkpoint) (passed ??= []).Add(source);
            else mark = Math.Min(mark, side);
        }
        foreach (var source in passed ?? []) _earlier.Remove(source);
        return new SideMark(Topic, Partition, mark);
    }
}
