using MetricsCollector.Core.Digests;

namespace MetricsCollector.Core.Windows;

/// <summary>
/// For each percentile a row reports, an interval that certainly holds the exact percentile of
/// the window's events (<see cref="TDigest.QuantileBounds(double)"/> says what exact means).
/// </summary>
public readonly record struct PercentileBounds(ValueRange P50, ValueRange P90, ValueRange P95, ValueRange P99)
{
    /// <summary>The quantiles a row reports, in the order of the fields.</summary>
    internal static readonly double[] Quantiles = [0.50, 0.90, 0.95, 0.99];

    /// <summary>
    /// What is certain of a window known only by its smallest and largest event: every percentile
    /// lies between them. Rows stored before rows carried bounds read back so.
    /// </summary>
    public static PercentileBounds Within(double min, double max)
    {
        var range = new ValueRange(min, max);
        return new PercentileBounds(range, range, range, range);
    }
}
