namespace MetricsCollector.Testing;

/// <summary>
/// The exact answer a digest is judged against. A value v sits, in the sorted data, at ranks
/// [#values &lt; v, #values ≤ v] / n; an estimate for quantile q is off by q's distance to that
/// interval (0 inside it). With repeated values the interval is wide, so returning 37.25 for
/// any q inside the run of 37.25s is exact, and returning 37.26 next to that run is not.
/// </summary>
public static class RankOracle
{
    public static double RankError(double[] sorted, double q, double v)
    {
        var lo = (double)LowerBound(sorted, v) / sorted.Length;
        var hi = (double)UpperBound(sorted, v) / sorted.Length;
        return q < lo ? lo - q : q > hi ? q - hi : 0;
    }

    /// <summary>
    /// The smallest and the largest of <paramref name="sorted"/> that are exact answers for q
    /// (rank error 0): every value between them is exact too, so an interval holds all exact
    /// answers when it holds these two.
    /// </summary>
    public static (double Lowest, double Highest) ExactAnswers(double[] sorted, double q)
    {
        // Below the exact answers q lies above a value's ranks, above them below: binary
        // searches for where that changes.
        int lo = 0, hi = sorted.Length - 1;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (q > (double)UpperBound(sorted, sorted[mid]) / sorted.Length)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        var first = lo;
        hi = sorted.Length - 1;
        while (lo < hi)
        {
            var mid = (lo + hi + 1) >>> 1;
            if (q < (double)LowerBound(sorted, sorted[mid]) / sorted.Length)
            {
                hi = mid - 1;
            }
            else
            {
                lo = mid;
            }
        }

        if (RankError(sorted, q, sorted[first]) != 0 || RankError(sorted, q, sorted[lo]) != 0)
        {
            throw new InvalidOperationException($"no exact answer for q={q} among {sorted.Length} values");
        }

        return (sorted[first], sorted[lo]);
    }

    /// <summary>
    /// The k1 size bound at δ: a centroid around quantile q holds at most about
    /// 2π·√(q(1−q))/δ of the weight, so interpolating between two centroid centres can be off by
    /// at most about that much.
    /// </summary>
    public static double CentroidSizeBound(double q, double compression) =>
        2 * Math.PI * Math.Sqrt(q * (1 - q)) / compression;

    /// <summary>
    /// How far the estimate may sit from q in rank when the data are a few values repeated many
    /// times: the boundary between two runs can lie anywhere inside a centroid that mixes both,
    /// up to one and a half centroids from q, and the centroid nearer the median may be larger,
    /// so the size is taken at q moved by S(q) towards ½.
    /// </summary>
    public static double RepeatedValuesBound(double q, double compression)
    {
        var nearer = q - (Math.Sign(q - 0.5) * CentroidSizeBound(q, compression));
        return 1.5 * CentroidSizeBound(nearer, compression);
    }

    private static int LowerBound(double[] sorted, double v)
    {
        int lo = 0, hi = sorted.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (sorted[mid] < v)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    private static int UpperBound(double[] sorted, double v)
    {
        int lo = 0, hi = sorted.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (sorted[mid] <= v)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }
}
