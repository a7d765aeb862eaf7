using System.Buffers;

namespace MetricsCollector.Core.Digests;

// The guaranteed bounds: what the centroids' extremes prove about a quantile, where the
// interpolated estimate only approximates it.
public sealed partial class TDigest
{
    /// <summary>
    /// An interval that certainly holds every exact <paramref name="q"/>-quantile of the values
    /// added (see <see cref="QuantileBounds(ReadOnlySpan{double}, Span{ValueRange})"/>); NaN to NaN when empty.
    /// </summary>
    public ValueRange QuantileBounds(double q)
    {
        Span<ValueRange> bounds = stackalloc ValueRange[1];
        QuantileBounds([q], bounds);
        return bounds[0];
    }

    /// <summary>
    /// For each of <paramref name="quantiles"/>, an interval that certainly holds its exact
    /// quantiles, however the digest was built (added values, merges in any order, the wire
    /// format); NaN to NaN when empty.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Exact quantile: of n values sorted as x₁ ≤ … ≤ xₙ, a value v is an exact q-quantile when
    /// <c>#{x &lt; v} ≤ q·n ≤ #{x ≤ v}</c> (v sits at a rank that q·n falls in). Those are the
    /// values from <c>x_lo</c> to <c>x_hi</c> with <c>lo = max(1, ⌈q·n⌉)</c> and
    /// <c>hi = min(n, ⌊q·n⌋ + 1)</c>: one order statistic (nearest rank, ⌈q·n⌉) unless q·n is a
    /// whole number k, when it is everything from x_k to x_(k+1). The bounds hold them all, so
    /// they also hold any interpolation between the two.
    /// </para>
    /// <para>
    /// Why they hold: every centroid i holds w_i values, all within [min_i, max_i]. Fewer than
    /// lo values lie below L when the centroids whose min_i is below L weigh at most lo − 1, so
    /// x_lo ≥ L; at least hi values lie at or below H when the centroids whose max_i is at or
    /// below H weigh at least hi, so x_hi ≤ H. Low is the largest such L and High the smallest
    /// such H among the extremes. Centroids whose values never overlap another's (a digest built
    /// from raw values) give the range of the one or two centroids that hold the rank; a digest
    /// of single values gives the exact order statistics.
    /// </para>
    /// </remarks>
    public void QuantileBounds(ReadOnlySpan<double> quantiles, Span<ValueRange> bounds)
    {
        if (bounds.Length < quantiles.Length)
        {
            throw new ArgumentException("There must be room for a range per quantile.", nameof(bounds));
        }

        foreach (var q in quantiles)
        {
            if (!(q >= 0 && q <= 1))
            {
                throw new ArgumentOutOfRangeException(nameof(quantiles), q, "Quantile must be in [0, 1].");
            }
        }

        if (Count == 0)
        {
            bounds[..quantiles.Length].Fill(new ValueRange(double.NaN, double.NaN));
            return;
        }

        Compress();
        var n = _centroidCount;
        if (_spreads is null)
        {
            // Every centroid is one value: the means are the sorted values themselves.
            for (var i = 0; i < quantiles.Length; i++)
            {
                var (lo, hi) = ExactRanks(quantiles[i], _centroidWeight);
                bounds[i] = new ValueRange(_means[lo - 1], _means[hi - 1]);
            }

            return;
        }

        var scratch = ArrayPool<double>.Shared.Rent(4 * n);
        try
        {
            var lows = scratch.AsSpan(0, n);
            var lowWeights = scratch.AsSpan(n, n);
            var highs = scratch.AsSpan(2 * n, n);
            var highWeights = scratch.AsSpan(3 * n, n);
            for (var i = 0; i < n; i++)
            {
                ref readonly var spread = ref _spreads[i];
                lows[i] = spread.Min;
                highs[i] = spread.Max;
                lowWeights[i] = highWeights[i] = spread.Weight;
            }

            SortNearlySorted(lows, lowWeights);
            SortNearlySorted(highs, highWeights);
            var low = new LowestPossible(lows, lowWeights);
            var high = new HighestPossible(highs, highWeights);
            for (var i = 0; i < quantiles.Length; i++)
            {
                // Ascending quantiles (a row's) carry on where the last one stopped.
                if (i > 0 && quantiles[i] < quantiles[i - 1])
                {
                    low = new LowestPossible(lows, lowWeights);
                    high = new HighestPossible(highs, highWeights);
                }

                var (lo, hi) = ExactRanks(quantiles[i], _centroidWeight);
                bounds[i] = new ValueRange(low.For(lo), high.For(hi));
            }
        }
        finally
        {
            ArrayPool<double>.Shared.Return(scratch);
        }
    }

    /// <summary>
    /// The centroids' extremes ascend as their means do, but for the few where merged centroids
    /// overlap: an insertion sort does that in one pass, and a digest of far more centroids than
    /// δ = 100 gives goes to the library sort.
    /// </summary>
    private static void SortNearlySorted(Span<double> keys, Span<double> weights)
    {
        if (keys.Length <= 512)
        {
            DigestSort.InsertionSort(keys, weights);
        }
        else
        {
            keys.Sort(weights);
        }
    }

    /// <summary>
    /// The ranks (1-based) of the first and last order statistics that are exact q-quantiles of
    /// n values. q·n is a rounded product: allowing for its rounding error can only widen the
    /// ranks, never miss one.
    /// </summary>
    private static (long Lo, long Hi) ExactRanks(double q, long n)
    {
        var rank = q * n;
        var slack = rank * 1e-15;
        var lo = Math.Max(1, (long)Math.Ceiling(rank - slack));
        var hi = Math.Min(n, (long)Math.Floor(rank + slack) + 1);
        return (Math.Min(lo, n), Math.Max(hi, 1));
    }

    /// <summary>
    /// The largest centroid min below which the centroids weigh at most rank − 1: x_rank is at
    /// least that. Asked for ascending ranks, it walks the sorted mins once.
    /// </summary>
    private ref struct LowestPossible(ReadOnlySpan<double> sortedMins, ReadOnlySpan<double> weights)
    {
        private readonly ReadOnlySpan<double> _mins = sortedMins;
        private readonly ReadOnlySpan<double> _weights = weights;
        private int _next;
        private double _below;
        private double _answer = sortedMins[0];

        public double For(long rank)
        {
            while (_next < _mins.Length && _below <= rank - 1)
            {
                var min = _mins[_next];
                _answer = min;
                while (_next < _mins.Length && _mins[_next] == min)
                {
                    _below += _weights[_next++];
                }
            }

            return _answer;
        }
    }

    /// <summary>
    /// The smallest centroid max at or below which the centroids weigh at least rank: x_rank is
    /// at most that. Asked for ascending ranks, it walks the sorted maxes once.
    /// </summary>
    private ref struct HighestPossible(ReadOnlySpan<double> sortedMaxes, ReadOnlySpan<double> weights)
    {
        private readonly ReadOnlySpan<double> _maxes = sortedMaxes;
        private readonly ReadOnlySpan<double> _weights = weights;
        private int _next;
        private double _atOrBelow;
        private double _answer = sortedMaxes[0];

        public double For(long rank)
        {
            while (_atOrBelow < rank && _next < _maxes.Length)
            {
                var max = _maxes[_next];
                _answer = max;
                while (_next < _maxes.Length && _maxes[_next] == max)
                {
                    _atOrBelow += _weights[_next++];
                }
            }

            return _answer;
        }
    }
}
