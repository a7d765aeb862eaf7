using System.Buffers;
using System.Numerics;

namespace MetricsCollector.Core.Digests;

/// <summary>
/// A merging t-digest (Dunning &amp; Ertl, "Computing extremely accurate quantiles using
/// t-digests"; the MergingDigest variant): a sorted list of centroids (mean, weight) whose
/// sizes are bounded by a scale function, so that a few hundred numbers describe the whole
/// distribution with rank errors well under a percent, smallest near the tails.
/// </summary>
/// <remarks>
/// <para>
/// Values are first appended to a buffer; when the buffer is full (or an answer is asked for)
/// it is sorted and merged with the centroids in one linear pass. That keeps <see cref="Add(double)"/>
/// at a few tens of nanoseconds amortised and keeps the merge identical whether the input
/// comes from raw values or from other digests' centroids.
/// </para>
/// <para>
/// Scale function: k1, <c>k(q) = δ/(2π)·asin(2q − 1)</c>. A centroid may span at most one unit
/// of k, so a centroid around quantile q holds at most about <c>2π·√(q(1−q))/δ</c> of the weight:
/// 3.1 % at the median, 1.4 % at p95, 0.6 % at p99 and 0.2 % at p99.9 for δ = 100. k2
/// (<c>log(q/(1−q))</c>, normalised by <c>4·log(n/δ) + 24</c>) has smaller centroids only beyond
/// about p98–p99 (depending on n) and 3–5× larger ones at the median, and p50, p90, p95 and p99
/// are the figures this product reports; k1 also needs no normaliser that depends on n, so two digests
/// built from different counts follow the same bounds. Hence k1.
/// </para>
/// <para>
/// Merge direction: the merge is greedy — it grows the current centroid until the next item
/// would break the size bound. Going always left to right, the leftovers of each pass pile up on
/// the right, and after many merges the centroids near the top are systematically fuller than
/// the bound intends (merge-order bias). k1 is symmetric (<c>k(1−q) = −k(q)</c>), so the same
/// bound read from the right describes the mirror image; alternating the direction on every
/// merge spreads the leftovers evenly over both tails.
/// </para>
/// <para>
/// Memory: nothing is allocated up front. The buffer grows by doubling up to
/// <c>BufferFactor·δ</c> values and <see cref="Compact"/> drops it. A digest of up to
/// <c>RawPointsFactor·δ</c> values, all added one by one and all decimals of at most
/// <c>MaxDecimals</c> places (a pane of CPU readings), then keeps the values themselves in
/// decimal form: sorted, as integer steps in units of the last decimal place, one to three
/// bytes each instead of eight. Each value is still exactly the double it was (see
/// <c>IsExactAt</c>), so answers do not change; queries and a full buffer unpack the form
/// again, while <see cref="MergeAll"/> and serialization read it as it is. Any other digest
/// keeps its centroids merged to δ, in arrays trimmed to size.
/// </para>
/// <para>
/// Extremes: each centroid keeps the smallest and largest value it holds (<see cref="Spread"/>),
/// exactly, through every merge. The estimate of a quantile is interpolated between means; the
/// extremes bound it for certain (<see cref="QuantileBounds"/>).
/// </para>
/// <para>
/// Known limit: a centroid does not record whether all its values are equal. Inside a long run
/// of one repeated value the answer is that value exactly (neighbouring centroids share the
/// mean), but at the run's edge, or around one heavily weighted <see cref="Add(double, long)"/>,
/// the answer is interpolated across the boundary and can be off by up to about one and a half
/// centroid sizes in rank.
/// </para>
/// <para>Not thread-safe: queries flush the buffer, so they mutate the instance.</para>
/// </remarks>
public sealed partial class TDigest
{
    /// <summary>Smallest accepted compression.</summary>
    public const double MinCompression = 10;

    /// <summary>Largest accepted compression (bounds memory and what a corrupt blob can ask for).</summary>
    public const double MaxCompression = 10_000;

    // Buffer of up to 10·δ values: a merge pass costs about (centroids + buffered)/buffered steps
    // per value plus a square root per centroid it closes; at 10·δ that is a few ns per
    // value while a busy digest's buffer stays at 8 KB. Fewer merges also means fewer rounds of
    // the greedy merge's error.
    private const int BufferFactor = 10;
    private const int InitialBufferCapacity = 16;

    // Two-level compression (as in Dunning's MergingDigest): the merges that empty a full buffer
    // use InternalFactor·δ, and only queries, serialization and Compact() merge down to δ. Each
    // buffer merge blends new points into existing centroids on one side of them only, which
    // shifts centroid means off the centre of the ranks they cover; with centroids InternalFactor
    // times finer that drift shrinks accordingly, and the last merge to δ starts from sorted,
    // nearly unblended pieces. At δ = 100 this cuts the rank error at p95/p99 by ~3× for the
    // price of a larger merge pass.
    private const int InternalFactor = 4;

    private double[] _bufferValues = [];
    private Spread[]? _bufferSpreads; // null while every buffered point is one value of weight 1
    private int _bufferCount;
    private long _bufferWeight;

    private double[] _means = [];     // empty while _packed holds them
    private Spread[]? _spreads;       // null when every centroid holds exactly one value (after Compact)
    private byte[]? _packed;          // the values in decimal form (see Memory above), or null
    private int _centroidCount;
    private long _centroidWeight;

    // The merge writes into these and then swaps them with _means/_spreads, so a busy digest
    // allocates nothing per merge.
    private double[]? _spareMeans;
    private Spread[]? _spareSpreads;

    private bool _mergeRightToLeft;
    private bool _compressed = true;  // the centroids are merged at δ, not just at InternalFactor·δ

    // The decimals that hold every value exactly, when MergeAll learnt them from panes in decimal
    // form (see ExtremeDecimals); UnknownDecimals once anything else comes in.
    private byte _knownDecimals = UnknownDecimals;
    private double _min = double.PositiveInfinity;
    private double _max = double.NegativeInfinity;
    private double _sum;

    public TDigest(double compression = 100)
    {
        if (!(compression >= MinCompression && compression <= MaxCompression))
        {
            throw new ArgumentOutOfRangeException(nameof(compression), compression,
                $"Compression must be in [{MinCompression}, {MaxCompression}].");
        }

        Compression = compression;
    }

    public double Compression { get; }

    /// <summary>Exact number of values added, including those merged in from other digests.</summary>
    public long Count => _centroidWeight + _bufferWeight;

    /// <summary>Exact smallest value; NaN when empty.</summary>
    public double Min => Count == 0 ? double.NaN : _min;

    /// <summary>Exact largest value; NaN when empty.</summary>
    public double Max => Count == 0 ? double.NaN : _max;

    /// <summary>
    /// Running sum of the values (plain double addition, so it overflows to ±∞ only for values
    /// near double.MaxValue); 0 when empty.
    /// </summary>
    public double Sum => _sum;

    /// <summary>Sum / Count; NaN when empty.</summary>
    public double Mean => Count == 0 ? double.NaN : _sum / Count;

    /// <summary>Number of centroids once the buffer is merged in (flushes the buffer).</summary>
    public int CentroidCount
    {
        get
        {
            Compress();
            return _centroidCount;
        }
    }

    public void Add(double value) => Add(value, 1);

    public void Add(double value, long weight)
    {
        if (!double.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(nameof(value), value, "Only finite values can be added.");
        }

        if (weight < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(weight), weight, "Weight must be at least 1.");
        }

        if (value == 0)
        {
            // −0 and +0 are equal as numbers but not as order keys (see DigestSort.OrderKey):
            // store +0 so that equal means always have equal keys.
            value = 0;
        }

        Append(value, Spread.Of(value, weight));
        _knownDecimals = UnknownDecimals;
        _sum += value * weight;
        if (value < _min)
        {
            _min = value;
        }

        if (value > _max)
        {
            _max = value;
        }
    }

    /// <summary>
    /// Adds everything <paramref name="other"/> holds. <paramref name="other"/> is only read: its
    /// centroids and its still-unsorted buffer are appended to this digest's buffer as weighted
    /// points, and the next merge treats them like any other input. The result keeps this
    /// digest's compression.
    /// </summary>
    public void Merge(TDigest other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (ReferenceEquals(other, this))
        {
            other = Clone();
        }

        if (other.Count == 0)
        {
            return;
        }

        // Unpacked into scratch space rather than in place: other is only read.
        double[]? rented = null;
        var means = other._means;
        if (other._packed is { } packed)
        {
            rented = ArrayPool<double>.Shared.Rent(other._centroidCount);
            Unpack(packed, rented.AsSpan(0, other._centroidCount));
            means = rented;
        }

        try
        {
            for (var i = 0; i < other._centroidCount; i++)
            {
                Append(means[i], other._spreads is null ? Spread.Of(means[i], 1) : other._spreads[i]);
            }
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<double>.Shared.Return(rented);
            }
        }

        for (var i = 0; i < other._bufferCount; i++)
        {
            var value = other._bufferValues[i];
            Append(value, other._bufferSpreads is null ? Spread.Of(value, 1) : other._bufferSpreads[i]);
        }

        _sum += other._sum;
        _knownDecimals = UnknownDecimals;
        _min = Math.Min(_min, other._min);
        _max = Math.Max(_max, other._max);
    }

    /// <summary>
    /// A new digest of <paramref name="compression"/> holding everything in
    /// <paramref name="digests"/>, which are only read. Count, Min, Max and Sum do not depend on
    /// the order of the inputs; no digests (or only empty ones) give an empty digest.
    /// </summary>
    /// <remarks>
    /// Built for a window of many panes. Merging the panes one by one re-sorts a growing buffer
    /// (with weighted points, by comparison) and runs a merge pass per buffer-full; here all
    /// centroids and buffered values are gathered once, sorted once by a bucket sort over
    /// [Min, Max] (the inputs are sorted runs over much the same range, so buckets hold one or
    /// two points), and compressed to δ in one pass (two for weighted points).
    /// </remarks>
    public static TDigest MergeAll(ReadOnlySpan<TDigest> digests, double compression = 100)
    {
        var result = new TDigest(compression);
        MergeAll(digests, result, reuse: false);
        return result;
    }

    /// <summary>
    /// <see cref="MergeAll(ReadOnlySpan{TDigest}, double)"/> into <paramref name="result"/>, which
    /// is emptied first and, for a digest that is read once and dropped (a window being turned
    /// into its row), keeps its arrays from one merge to the next instead of new ones each time.
    /// <paramref name="result"/> must not be one of <paramref name="digests"/>.
    /// </summary>
    internal static void MergeAllInto(ReadOnlySpan<TDigest> digests, TDigest result)
    {
        result.Clear();
        MergeAll(digests, result, reuse: true);
    }

    /// <summary>
    /// <see cref="MergeAllInto(ReadOnlySpan{TDigest}, TDigest)"/> of <paramref name="inputs"/>, among
    /// them idle panes kept as bare decimal forms: the same digest as if each of those were the
    /// compacted digest it was made from, in the same place among the others.
    /// </summary>
    internal static void MergeAllInto(ReadOnlySpan<MergeInput> inputs, TDigest result)
    {
        result.Clear();
        MergeAll(inputs, result, reuse: true);
    }

    private static void MergeAll(ReadOnlySpan<TDigest> digests, TDigest result, bool reuse)
    {
        var inputs = ArrayPool<MergeInput>.Shared.Rent(digests.Length);
        try
        {
            for (var i = 0; i < digests.Length; i++)
            {
                ArgumentNullException.ThrowIfNull(digests[i], nameof(digests));
                inputs[i] = new MergeInput(digests[i]);
            }

            MergeAll(inputs.AsSpan(0, digests.Length), result, reuse);
        }
        finally
        {
            ArrayPool<MergeInput>.Shared.Return(inputs, clearArray: true);
        }
    }

    private static void MergeAll(ReadOnlySpan<MergeInput> inputs, TDigest result, bool reuse)
    {
        var points = 0;
        long total = 0;
        var unit = true;
        foreach (var input in inputs)
        {
            if (input.Digest is not { } digest)
            {
                points += input.Run.Count;
                total += input.Run.Count;
                continue;
            }

            points += digest._centroidCount + digest._bufferCount;
            total += digest.Count;
            unit &= digest._centroidWeight == digest._centroidCount && digest._bufferWeight == digest._bufferCount;
            if (digest.Count > 0)
            {
                result._min = Math.Min(result._min, digest._min);
                result._max = Math.Max(result._max, digest._max);
            }
        }

        if (total == 0)
        {
            return;
        }

        // Panes of up to ~60 values hold only weight-1 points; leaving the spreads out shrinks
        // what the sort moves to a quarter and lets the compression cut runs of points by count.
        // Rented arrays hold the working spans: the shared pool hands out a second array of the
        // same size from behind a lock, so each pool gives one.
        var scratch = ArrayPool<double>.Shared.Rent(2 * points);
        var spreadScratch = ArrayPool<Spread>.Shared.Rent((unit ? 1 : 2) * points);
        try
        {
            var spareValues = scratch.AsSpan(0, points);
            var values = scratch.AsSpan(points, points);
            var spareSpreads = unit ? [] : spreadScratch.AsSpan(0, points);
            var spreads = unit ? [] : spreadScratch.AsSpan(points, points);
            var pos = 0;
            foreach (var input in inputs)
            {
                if (input.Digest is not { } digest)
                {
                    // A run is sorted, so its first and last values are its extremes.
                    var run = spareValues.Slice(pos, input.Run.Count);
                    Unpack(input.Run.Form.Span, run);
                    result._min = Math.Min(result._min, run[0]);
                    result._max = Math.Max(result._max, run[^1]);
                    pos = GatherSpreads(run, null, spareSpreads, pos);
                    continue;
                }

                if (digest._packed is { } packed)
                {
                    var unpacked = spareValues.Slice(pos, digest._centroidCount);
                    Unpack(packed, unpacked);
                    pos = GatherSpreads(unpacked, null, spareSpreads, pos);
                }
                else
                {
                    digest._means.AsSpan(0, digest._centroidCount).CopyTo(spareValues[pos..]);
                    pos = GatherSpreads(spareValues.Slice(pos, digest._centroidCount), digest._spreads, spareSpreads, pos);
                }

                digest._bufferValues.AsSpan(0, digest._bufferCount).CopyTo(spareValues[pos..]);
                pos = GatherSpreads(spareValues.Slice(pos, digest._bufferCount), digest._bufferSpreads, spareSpreads, pos);
            }

            DigestSort.SortInto(spareValues, spareSpreads, values, spreads, result._min, result._max, depth: 0);

            // The last pass runs right to left, so its leftovers gather at the bottom, away from
            // p90–p99, which is where it matters for this product; it is also the direction a
            // fresh digest's first query compresses in, so windows keep the shape they had when
            // built pane by pane. Weighted inputs (compressed panes) first go through a pass at
            // InternalFactor·δ, as buffers do: straight to δ, centroids built from other
            // centroids reach their bound exactly and the rank error at p95–p99 doubled on
            // normal data. Weight-1 inputs need no finer level: it made no difference on
            // windows of 30 × 60 readings (docs/benchmarks.md, "t-digest"), and it costs about a
            // quarter of the build there.
            var kStep = result.KStep;
            int count;
            Span<double> outMeans;
            Span<Spread> outSpreads;
            if (unit)
            {
                outMeans = spareValues;
                outSpreads = spreadScratch.AsSpan(0, points);
                count = CompressSorted(values, [], total, kStep, rightToLeft: true, outMeans, outSpreads);
            }
            else
            {
                var fine = CompressSorted(values, spreads, total, kStep / InternalFactor, rightToLeft: false, spareValues, spareSpreads);
                outMeans = values;
                outSpreads = spreads;
                count = CompressSorted(spareValues[..fine], spareSpreads[..fine], total, kStep, rightToLeft: true, outMeans, outSpreads);
            }

            if (reuse)
            {
                outMeans[..count].CopyTo(result._means = result.MeansFor(count));
                outSpreads[..count].CopyTo(result._spreads = result.SpreadsFor(count));
            }
            else
            {
                result._means = outMeans[..count].ToArray();
                result._spreads = count == total ? null : outSpreads[..count].ToArray();
            }

            result._centroidCount = count;
            result._centroidWeight = total;
            result._mergeRightToLeft = false;
            result._knownDecimals = DecimalsOfPacked(inputs);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(scratch);
            ArrayPool<Spread>.Shared.Return(spreadScratch);
        }

        result._sum = SumInValueOrder(inputs);
    }

    /// <summary>
    /// Empties the digest but keeps its arrays for <see cref="MergeAllInto"/> and
    /// <see cref="ReadInto"/>: with no centroids their content means nothing, and whatever fills
    /// them next sets (or drops) each one.
    /// </summary>
    private void Clear()
    {
        _bufferCount = 0;
        _bufferWeight = 0;
        _packed = null;
        _centroidCount = 0;
        _centroidWeight = 0;
        _mergeRightToLeft = false;
        _knownDecimals = UnknownDecimals;
        _compressed = true;
        _min = double.PositiveInfinity;
        _max = double.NegativeInfinity;
        _sum = 0;
    }

    /// <summary>
    /// The value at quantile <paramref name="q"/>; NaN when empty, always within [Min, Max].
    /// </summary>
    /// <remarks>
    /// The model behind the interpolation: centroid i spreads its weight evenly around its mean,
    /// so its mean sits at cumulative weight <c>c_i = w_0 + … + w_(i−1) + w_i/2</c>, and between two
    /// centres the value is interpolated linearly in cumulative weight. A centroid of weight 1
    /// is a single sample, not a spread: it owns the ranks <c>c_i ± ½</c> outright, so there the
    /// answer is that sample exactly and interpolation starts only half a unit further out (this
    /// is what makes small digests exact). At the ends the exact Min and Max are samples too: the
    /// first unit of weight is Min, and the lower half of the first centroid is interpolated
    /// from Min (at weight 1) to its mean (at w_0/2); the top mirrors this with Max.
    /// </remarks>
    public double Quantile(double q)
    {
        var from = 0;
        var centre = 0.0;
        return Quantile(q, ref from, ref centre);
    }

    /// <summary>
    /// <see cref="Quantile(double)"/> of each of <paramref name="quantiles"/>, into
    /// <paramref name="values"/>: the same values, in one walk over the centroids when the
    /// quantiles ascend, as a row's four do, instead of one walk from the bottom each.
    /// </summary>
    public void Quantiles(ReadOnlySpan<double> quantiles, Span<double> values)
    {
        if (values.Length < quantiles.Length)
        {
            throw new ArgumentException("There must be room for a value per quantile.", nameof(values));
        }

        var from = 0;
        var centre = 0.0;
        for (var k = 0; k < quantiles.Length; k++)
        {
            if (k > 0 && !(quantiles[k] >= quantiles[k - 1]))
            {
                from = 0;
            }

            values[k] = Quantile(quantiles[k], ref from, ref centre);
        }
    }

    /// <summary>
    /// <see cref="Quantile(double)"/>, its walk between centres starting at centroid
    /// <paramref name="from"/>, whose centre is <paramref name="centre"/> (unless it is 0); both
    /// are left where a larger <paramref name="q"/> has to start.
    /// </summary>
    private double Quantile(double q, ref int from, ref double centre)
    {
        if (!(q >= 0 && q <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(q), q, "Quantile must be in [0, 1].");
        }

        if (Count == 0)
        {
            return double.NaN;
        }

        if (q == 0 || _min == _max)
        {
            return _min;
        }

        if (q == 1)
        {
            return _max;
        }

        Compress();
        double total = _centroidWeight;
        var index = q * total;
        var n = _centroidCount;

        if (index < 1)
        {
            return _min;
        }

        var w0 = Weight(0);
        if (index < w0 / 2)
        {
            // Only reachable when w0 > 2, so the divisor is positive.
            return Clamp(Interpolate(_min, _means[0], (index - 1) / ((w0 / 2) - 1)));
        }

        if (index > total - 1)
        {
            return _max;
        }

        var wLast = Weight(n - 1);
        if (total - index < wLast / 2)
        {
            return Clamp(Interpolate(_max, _means[n - 1], (total - index - 1) / ((wLast / 2) - 1)));
        }

        // Here w0/2 <= index <= total − wLast/2, so a bracketing pair of centres exists.
        if (from == 0)
        {
            centre = w0 / 2;
        }

        for (var i = from; i < n - 1; i++)
        {
            from = i;
            var wi = Weight(i);
            var wNext = Weight(i + 1);
            var nextCentre = centre + ((wi + wNext) / 2);
            if (index <= nextCentre)
            {
                var left = centre;
                var right = nextCentre;
                if (wi == 1)
                {
                    if (index - centre < 0.5)
                    {
                        return _means[i];
                    }

                    left += 0.5;
                }

                if (wNext == 1)
                {
                    if (nextCentre - index <= 0.5)
                    {
                        return _means[i + 1];
                    }

                    right -= 0.5;
                }

                return Clamp(Interpolate(_means[i], _means[i + 1], (index - left) / (right - left)));
            }

            centre = nextCentre;
        }

        from = n - 1;
        return _means[n - 1];
    }

    /// <summary>
    /// Estimated fraction of the weight below <paramref name="x"/>, counting half of the weight
    /// equal to it; NaN when empty; <see cref="ArgumentOutOfRangeException"/> for a NaN
    /// <paramref name="x"/>. The inverse of the model described at <see cref="Quantile"/>.
    /// </summary>
    public double Cdf(double x)
    {
        if (double.IsNaN(x))
        {
            throw new ArgumentOutOfRangeException(nameof(x), x, "x must not be NaN.");
        }

        if (Count == 0)
        {
            return double.NaN;
        }

        if (x < _min)
        {
            return 0;
        }

        if (x > _max)
        {
            return 1;
        }

        if (_min == _max)
        {
            return 0.5;
        }

        Compress();
        double total = _centroidWeight;
        var n = _centroidCount;

        if (x < _means[0])
        {
            // Min is one sample at weight ½; the rest of the lower half of centroid 0 is spread
            // linearly from Min (weight 1) to the centroid's mean (weight w0/2). After merges,
            // centroid 0 may be a single value above Min (Min then sits inside a wider centroid);
            // the Min(…)/Max(…) keep the estimate flat there instead of letting it fall.
            if (x == _min)
            {
                return 0.5 / total;
            }

            var w0 = Weight(0);
            return (Math.Min(1, w0 / 2) + (Fraction(x, _min, _means[0]) * Math.Max(0, (w0 / 2) - 1))) / total;
        }

        if (x > _means[n - 1])
        {
            if (x == _max)
            {
                return 1 - (0.5 / total);
            }

            var wLast = Weight(n - 1);
            return 1 - ((Math.Min(1, wLast / 2) + (Fraction(x, _max, _means[n - 1]) * Math.Max(0, (wLast / 2) - 1))) / total);
        }

        double before = 0;
        var i = 0;
        while (_means[i] < x)
        {
            before += Weight(i);
            i++;
        }

        if (_means[i] == x)
        {
            double equal = 0;
            for (var j = i; j < n && _means[j] == x; j++)
            {
                equal += Weight(j);
            }

            return (before + (equal / 2)) / total;
        }

        // _means[i − 1] < x < _means[i]: interpolate between the two centres, leaving out the half
        // unit that a single-sample centroid owns outright.
        var wLeft = Weight(i - 1);
        var wRight = Weight(i);
        var left = before - (wLeft / 2) + (wLeft == 1 ? 0.5 : 0);
        var right = before + (wRight / 2) - (wRight == 1 ? 0.5 : 0);
        return (left + ((right - left) * Fraction(x, _means[i - 1], _means[i]))) / total;
    }

    /// <summary>An independent copy, including the unmerged buffer and the next merge direction.</summary>
    public TDigest Clone()
    {
        var copy = new TDigest(Compression)
        {
            _bufferValues = _bufferValues[.._bufferCount],
            _bufferSpreads = _bufferSpreads?[.._bufferCount],
            _bufferCount = _bufferCount,
            _bufferWeight = _bufferWeight,
            _means = _packed is null ? _means[.._centroidCount] : [],
            _spreads = _spreads?[.._centroidCount],
            _packed = _packed?.ToArray(),
            _centroidCount = _centroidCount,
            _centroidWeight = _centroidWeight,
            _mergeRightToLeft = _mergeRightToLeft,
            _compressed = _compressed,
            _min = _min,
            _max = _max,
            _sum = _sum,
        };
        return copy;
    }

    /// <summary>
    /// Prepares the digest to sit idle: drops the buffer and trims every array to its content.
    /// Up to <c>RawPointsFactor·δ</c> values of weight 1 of at most <c>MaxDecimals</c> decimals
    /// (a pane of CPU readings) are kept as they are, sorted, in decimal form; anything else is
    /// merged to δ first. Cheap on a digest that has not changed since it was last compacted.
    /// </summary>
    public void Compact()
    {
        if (_bufferValues.Length == 0 && _spareMeans is null && (_packed is not null || _means.Length == _centroidCount))
        {
            return;
        }

        if (!TryPack())
        {
            Compress();
            if (_centroidCount == _centroidWeight)
            {
                _spreads = null;
            }
            else if (_spreads is not null && _spreads.Length != _centroidCount)
            {
                _spreads = _spreads[.._centroidCount];
            }

            if (_means.Length != _centroidCount)
            {
                _means = _means[.._centroidCount];
            }
        }

        _bufferValues = [];
        _bufferSpreads = null;
        _spareMeans = null;
        _spareSpreads = null;
    }

    /// <summary>
    /// An array for <paramref name="count"/> centroid means, for reuse after <see cref="Clear"/>: the
    /// current one or the spare if either holds them (the other becomes the spare), else a new one.
    /// </summary>
    private double[] MeansFor(int count)
    {
        if (_means.Length >= count)
        {
            return _means;
        }

        if (_spareMeans is { } spare && spare.Length >= count)
        {
            _spareMeans = _means.Length > 0 ? _means : null;
            return spare;
        }

        return new double[count];
    }

    /// <summary>As <see cref="MeansFor"/>, for the centroids' spreads.</summary>
    private Spread[] SpreadsFor(int count)
    {
        if (_spreads is { } spreads && spreads.Length >= count)
        {
            return spreads;
        }

        if (_spareSpreads is { } spare && spare.Length >= count)
        {
            _spareSpreads = _spreads;
            return spare;
        }

        return new Spread[count];
    }

    // One unit of k at δ, in asin-space: 2π/δ (derived rather than stored, to keep idle digests small).
    private double KStep => 2 * Math.PI / Compression;

    private double Weight(int i) => _spreads is null ? 1 : _spreads[i].Weight;

    private double Clamp(double value) => Math.Clamp(value, _min, _max);

    // a + (b − a)·t rather than a weighted average: it returns a exactly when a == b, so a
    // run of centroids with the same mean (repeated values) answers that value exactly. Halving
    // first keeps b − a finite when a and b are finite doubles of opposite sign near the limits.
    private static double Interpolate(double a, double b, double t)
    {
        var span = b - a;
        return double.IsFinite(span) ? a + (span * t) : 2 * ((a / 2) + (((b / 2) - (a / 2)) * t));
    }

    // (x − a)/(b − a), with the same care for overflow as Interpolate.
    private static double Fraction(double x, double a, double b)
    {
        var span = b - a;
        return double.IsFinite(span) ? (x - a) / span : ((x / 2) - (a / 2)) / ((b / 2) - (a / 2));
    }

    /// <summary>Buffers a point: a value of weight 1 from Add, or anything from Merge.</summary>
    private void Append(double value, in Spread spread)
    {
        if (_bufferCount == _bufferValues.Length)
        {
            var limit = (int)(BufferFactor * Compression);
            if (_bufferValues.Length < limit)
            {
                var capacity = Math.Min(limit, Math.Max(InitialBufferCapacity, _bufferValues.Length * 2));
                Array.Resize(ref _bufferValues, capacity);
                if (_bufferSpreads is not null)
                {
                    Array.Resize(ref _bufferSpreads, capacity);
                }
            }
            else
            {
                Flush();
            }
        }

        if (spread.Weight != 1 && _bufferSpreads is null)
        {
            _bufferSpreads = new Spread[_bufferValues.Length];
            for (var i = 0; i < _bufferCount; i++)
            {
                _bufferSpreads[i] = Spread.Of(_bufferValues[i], 1);
            }
        }

        _bufferValues[_bufferCount] = value;
        if (_bufferSpreads is not null)
        {
            _bufferSpreads[_bufferCount] = spread;
        }

        _bufferCount++;
        _bufferWeight += (long)spread.Weight;
    }

    /// <summary>Brings the digest to its public form: buffer merged in, centroids bounded at δ.</summary>
    private void Compress()
    {
        Unpack();
        if (_bufferCount > 0 || !_compressed)
        {
            MergeIntoCentroids(KStep);
            _compressed = true;
        }
    }

    /// <summary>Empties a full buffer into the finer internal centroids.</summary>
    private void Flush()
    {
        Unpack();
        MergeIntoCentroids(KStep / InternalFactor);
        _compressed = false;
    }

    /// <summary>
    /// Sorts the buffer and merges it with the centroids into a new centroid list in which no
    /// centroid spans more than <paramref name="kStep"/> (one unit of k at the chosen compression).
    /// </summary>
    private void MergeIntoCentroids(double kStep)
    {
        if (_bufferSpreads is null)
        {
            DigestSort.RadixSort(_bufferValues, _bufferCount);
        }
        else
        {
            // Weighted points come from Merge, a path far less hot than Add.
            Array.Sort(_bufferValues, _bufferSpreads, 0, _bufferCount);
        }

        var nA = _centroidCount;
        var nB = _bufferCount;
        var total = (double)(_centroidWeight + _bufferWeight);
        var capacity = Math.Min(nA + nB, (int)(InternalFactor * Compression) + 16);
        var outMeans = _spareMeans is { } sm && sm.Length >= capacity ? sm : new double[capacity];
        var outSpreads = _spareSpreads is { } ss && ss.Length >= outMeans.Length ? ss : new Spread[outMeans.Length];

        // Walk both sorted inputs in the merge direction; everything below is written as if
        // going left to right, with "before" meaning "already passed".
        var reverse = _mergeRightToLeft;
        var step = reverse ? -1 : 1;
        var ia = reverse ? nA - 1 : 0;
        var ib = reverse ? nB - 1 : 0;
        var aMeans = _means;
        var aSpreads = _spreads;
        var bValues = _bufferValues;
        var bSpreads = _bufferSpreads;

        var bound = new UnitBound(total, kStep);
        var count = 0;
        double passed = 0;   // weight of the centroids already closed
        double limit = 0;    // largest cumulative weight the open centroid may reach
        double mean = 0;
        var open = default(Spread);
        for (var remaining = nA + nB; remaining > 0; remaining--)
        {
            double x;
            Spread point;
            var takeA = (uint)ia < (uint)nA
                && ((uint)ib >= (uint)nB || (reverse ? aMeans[ia] >= bValues[ib] : aMeans[ia] <= bValues[ib]));
            if (takeA)
            {
                x = aMeans[ia];
                point = aSpreads is null ? Spread.Of(x, 1) : aSpreads[ia];
                ia += step;
            }
            else
            {
                x = bValues[ib];
                point = bSpreads is null ? Spread.Of(x, 1) : bSpreads[ib];
                ib += step;
            }

            if (open.Weight > 0 && passed + open.Weight + point.Weight <= limit)
            {
                open.Absorb(point);
                // Incremental mean; the clamp keeps rounding from carrying the mean past the
                // newest (most extreme) member, so means stay sorted and inside [min, max].
                var m = mean + ((x - mean) * (point.Weight / open.Weight));
                mean = reverse ? Math.Max(m, x) : Math.Min(m, x);
                continue;
            }

            if (open.Weight > 0)
            {
                if (count == outMeans.Length)
                {
                    Array.Resize(ref outMeans, count * 2);
                    Array.Resize(ref outSpreads, count * 2);
                }

                outMeans[count] = mean;
                outSpreads[count] = open;
                count++;
                passed += open.Weight;
            }

            mean = x;
            open = point;
            limit = bound.LimitAfter(passed);
        }

        if (count == outMeans.Length)
        {
            Array.Resize(ref outMeans, count + 1);
            Array.Resize(ref outSpreads, count + 1);
        }

        outMeans[count] = mean;
        outSpreads[count] = open;
        count++;

        if (reverse)
        {
            Array.Reverse(outMeans, 0, count);
            Array.Reverse(outSpreads, 0, count);
        }

        _spareMeans = _means.Length > 0 ? _means : null;
        _spareSpreads = _spreads;
        _means = outMeans;
        _spreads = outSpreads;
        _centroidCount = count;
        _centroidWeight += _bufferWeight;
        _bufferCount = 0;
        _bufferWeight = 0;
        _mergeRightToLeft = !reverse;
    }

    /// <summary>
    /// Writes the spreads of points already copied to <paramref name="values"/> (null: each is
    /// one value of weight 1) at <paramref name="pos"/>, unless every input is of that kind
    /// (<paramref name="toSpreads"/> empty); returns the position after them.
    /// </summary>
    private static int GatherSpreads(ReadOnlySpan<double> values, Spread[]? spreads, Span<Spread> toSpreads, int pos)
    {
        if (!toSpreads.IsEmpty)
        {
            if (spreads is null)
            {
                for (var i = 0; i < values.Length; i++)
                {
                    toSpreads[pos + i] = Spread.Of(values[i], 1);
                }
            }
            else
            {
                spreads.AsSpan(0, values.Length).CopyTo(toSpreads[pos..]);
            }
        }

        return pos + values.Length;
    }

    /// <summary>
    /// Compresses points sorted by value (<paramref name="spreads"/> empty: each is one value of
    /// weight 1) into centroids that span at most <paramref name="kStep"/>, greedily in the given
    /// direction; writes them in ascending order and returns how many it wrote.
    /// </summary>
    private static int CompressSorted(ReadOnlySpan<double> values, ReadOnlySpan<Spread> spreads, long total, double kStep,
        bool rightToLeft, Span<double> outMeans, Span<Spread> outSpreads)
    {
        var unit = spreads.IsEmpty;
        var n = values.Length;
        var bound = new UnitBound(total, kStep);
        var count = 0;
        double passed = 0;
        var done = 0;
        while (done < n)
        {
            var room = bound.LimitAfter(passed) - passed;
            int take;
            Spread centroid;
            if (unit)
            {
                // The greedy rule below, for weights of 1: as many points as fit, at least one.
                take = room >= n - done ? n - done : Math.Max(1, (int)room);
                var first = rightToLeft ? n - done - take : done;
                centroid = new Spread(take, values[first], values[first + take - 1]);
            }
            else
            {
                take = 1;
                centroid = spreads[rightToLeft ? n - 1 - done : done];
                while (done + take < n)
                {
                    ref readonly var next = ref spreads[rightToLeft ? n - 1 - done - take : done + take];
                    if (centroid.Weight + next.Weight > room)
                    {
                        break;
                    }

                    centroid.Absorb(next);
                    take++;
                }
            }

            var start = rightToLeft ? n - done - take : done;
            outMeans[count] = MeanOfSorted(values.Slice(start, take), unit ? [] : spreads.Slice(start, take), centroid.Weight);
            outSpreads[count] = centroid;
            count++;
            passed += centroid.Weight;
            done += take;
        }

        if (rightToLeft)
        {
            outMeans[..count].Reverse();
            outSpreads[..count].Reverse();
        }

        return count;
    }

    /// <summary>
    /// Weighted mean (<paramref name="spreads"/> empty: all weigh 1) of points sorted by value,
    /// kept inside [first, last] and exactly the value when all are equal, so that runs of a
    /// repeated value keep answering it exactly.
    /// </summary>
    private static double MeanOfSorted(ReadOnlySpan<double> values, ReadOnlySpan<Spread> spreads, double weight)
    {
        var first = values[0];
        var last = values[^1];
        if (first == last)
        {
            return first;
        }

        // A plain sum has no serial division per point (the running mean in MergeIntoCentroids
        // does) and, for points of weight 1, vectorises; it overflows only for values near
        // double.MaxValue, where the running mean takes over.
        double sum;
        var i = 0;
        if (spreads.IsEmpty)
        {
            var lanes = Vector<double>.Count;
            var partial = Vector<double>.Zero;
            for (; i <= values.Length - lanes; i += lanes)
            {
                partial += new Vector<double>(values[i..]);
            }

            sum = Vector.Sum(partial);
            for (; i < values.Length; i++)
            {
                sum += values[i];
            }
        }
        else
        {
            sum = 0;
            for (; i < values.Length; i++)
            {
                sum += values[i] * spreads[i].Weight;
            }
        }

        var mean = sum / weight;
        if (!double.IsFinite(mean))
        {
            mean = first;
            var seen = spreads.IsEmpty ? 1 : spreads[0].Weight;
            for (var j = 1; j < values.Length; j++)
            {
                var w = spreads.IsEmpty ? 1 : spreads[j].Weight;
                seen += w;
                mean += (values[j] - mean) * (w / seen);
            }
        }

        return Math.Clamp(mean, first, last);
    }

    /// <summary>
    /// Floating-point addition is not associative: adding the digests' sums in ascending order
    /// makes the total the same whatever order the digests come in.
    /// </summary>
    private static double SumInValueOrder(ReadOnlySpan<MergeInput> inputs)
    {
        var sums = inputs.Length <= 64 ? stackalloc double[inputs.Length] : new double[inputs.Length];
        for (var i = 0; i < inputs.Length; i++)
        {
            sums[i] = inputs[i].Digest is { } digest ? digest._sum : inputs[i].Run.Sum;
        }

        sums.Sort();
        double sum = 0;
        foreach (var s in sums)
        {
            sum += s;
        }

        return sum;
    }

    /// <summary>
    /// The k1 size bound in weight terms: a centroid that starts after <c>passed</c> of
    /// <c>total</c> may grow up to <c>LimitAfter(passed)</c>. With k1,
    /// <c>q(k) = (sin(2πk/δ) + 1)/2</c> once the δ/(2π) normaliser cancels, so a centroid starting
    /// at quantile q = passed/total may end at <c>q(k(q) + 1)</c>, one kStep (2π/δ) further in
    /// asin-space: with a = asin(2q − 1), <c>(sin(a + kStep) + 1)/2</c>, and 1 past the top of the
    /// sine. sin(a + s) = sin a·cos s + cos a·sin s with sin a = 2q − 1 and cos a = 2·√(q(1 − q))
    /// turns that into one square root per centroid instead of an arcsine and a sine.
    /// </summary>
    private readonly struct UnitBound(double total, double kStep)
    {
        private readonly double _total = total;
        private readonly double _cos = Math.Cos(kStep);
        private readonly double _sin = Math.Sin(kStep);

        public double LimitAfter(double passed)
        {
            // total·sin a; at or past sin(π/2 − kStep) = cos kStep the next unit reaches q = 1.
            var offset = (2 * passed) - _total;
            return offset >= _total * _cos
                ? _total
                : (_total + (offset * _cos) + (2 * Math.Sqrt(passed * (_total - passed)) * _sin)) / 2;
        }
    }
}
