using MetricsCollector.Core.Windows;

namespace MetricsCollector.Testing;

/// <summary>
/// The product's window rules written the naive way, as a reference to test the engine against:
/// it keeps every value of every window, enumerates an event's windows one by one and keeps a
/// watermark per partition. A device's records may come from several partitions (unkeyed
/// producers): each is judged by its own partition's watermark, and the window holds them all.
/// Nothing here shares code with the engine's panes or digests.
/// </summary>
public sealed class ExactWindowOracle
{
    private readonly long _size;
    private readonly long _slide;
    private readonly long _lateness;
    private readonly long _bound;
    private readonly Dictionary<int, long> _watermarks = new();

    public ExactWindowOracle(long sizeMs, long slideMs, long allowedLatenessMs, long maxOutOfOrdernessMs)
    {
        _size = sizeMs;
        _slide = slideMs;
        _lateness = allowedLatenessMs;
        _bound = maxOutOfOrdernessMs;
    }

    public Dictionary<(string Device, long End), ExactWindow> Windows { get; } = new();

    /// <summary>Too-late records as (partition, position in the partition).</summary>
    public List<(int Partition, long Position)> TooLate { get; } = new();

    public long WatermarkOf(int partition) => _watermarks.TryGetValue(partition, out var w) ? w : long.MinValue;

    /// <summary>Feeds the next record of <paramref name="partition"/>; returns whether it counted anywhere.</summary>
    public bool Record(int partition, long position, string device, long time, double value)
    {
        var w = WatermarkOf(partition);
        var counted = false;
        // Starts are the multiples of the slide in (time − size, time].
        var lastStart = Math.Floor((double)time / _slide) * _slide;
        for (var start = (long)lastStart; start > time - _size; start -= _slide)
        {
            var end = start + _size;
            if (w >= end + _lateness) continue;
            if (!Windows.TryGetValue((device, end), out var window))
                Windows[(device, end)] = window = new ExactWindow(device, start, end);
            window.Add(partition, value, late: w >= end);
            counted = true;
        }
        if (!counted) TooLate.Add((partition, position));
        _watermarks[partition] = Math.Max(w, time - _bound);
        return counted;
    }
}

public sealed class ExactWindow(string device, long start, long end)
{
    private readonly Dictionary<int, (long Values, int Late)> _byPartition = new();

    public string Device { get; } = device;
    public long Start { get; } = start;
    public long End { get; } = end;
    public List<double> Values { get; } = new();

    /// <summary>
    /// Per partition that contributed: 1 for the firing when it held on-time events, plus one per
    /// late event; summed over the partitions, since each partition fires and revises its own part
    /// of the row and every change to a part is a change to the row.
    /// </summary>
    public int Revision => _byPartition.Values.Sum(p => p.Late == p.Values ? p.Late : p.Late + 1);

    /// <summary>How many partitions hold records of this window.</summary>
    public int Partitions => _byPartition.Count;

    public void Add(int partition, double value, bool late)
    {
        Values.Add(value);
        var (values, lateCount) = _byPartition.GetValueOrDefault(partition);
        _byPartition[partition] = (values + 1, lateCount + (late ? 1 : 0));
    }

    public long Count => Values.Count;
    public double Min => Values.Min();
    public double Max => Values.Max();
    public double Mean => Values.Sum() / Values.Count;

    /// <summary>
    /// The rank error a percentile of this window may show: half the k1 scale function's bound
    /// on a centroid's share of the weight around q, S(q) = 2π·√(q(1−q))/δ, plus two ranks for
    /// interpolating between neighbouring values. The digest's own property tests see at most
    /// 0.27·S after merges; 0.5·S leaves room without letting a wrong pane through (a missing or
    /// doubled pane moves a percentile by far more). Windows of a few values repeated many times
    /// get the digest's bound for those (<see cref="RankOracle.RepeatedValuesBound"/>).
    /// </summary>
    public double RankBound(double q, double compression = 100, bool repeatedValues = false) =>
        (repeatedValues ? RankOracle.RepeatedValuesBound(q, compression) : 0.5 * RankOracle.CentroidSizeBound(q, compression)) + 2.0 / Values.Count;

    /// <summary>How far q lies from the ranks that <paramref name="value"/> holds among the window's values (see <see cref="RankOracle"/>).</summary>
    public double RankError(double q, double value) => RankOracle.RankError(Values.Order().ToArray(), q, value);

    /// <summary>The lowest and highest exact q-quantiles of the window's values: what a row's bounds must hold.</summary>
    public (double Lowest, double Highest) ExactAnswers(double q) => RankOracle.ExactAnswers(Values.Order().ToArray(), q);
}
