using MetricsCollector.Core.Digests;

namespace MetricsCollector.Core.Windows;

/// <summary>
/// One result row: the figures of one device over one window <c>[WindowStart, WindowEnd)</c>.
/// Times are epoch milliseconds (UTC). Count, Min, Max and Mean are exact; the percentiles
/// come from the t-digest, and <see cref="Bounds"/> holds, for each, an interval that certainly
/// contains the exact percentile. <see cref="Revision"/> starts at 1 when the window fires and goes
/// up with every late event that changes it; <see cref="Final"/> is set once the watermark
/// has passed <c>WindowEnd + allowed lateness</c>, after which the row never changes.
/// Rows are keyed by (DeviceId, WindowEnd): writing the same key again replaces the row.
/// </summary>
public sealed record WindowResult(
    string DeviceId,
    long WindowStart,
    long WindowEnd,
    double P50,
    double P90,
    double P95,
    double P99,
    double Min,
    double Max,
    double Mean,
    long Count,
    int Revision,
    bool Final,
    long LastUpdated,
    PercentileBounds Bounds)
{
    /// <summary>
    /// The row whose figures are those of <paramref name="digest"/>, a window's merged digest.
    /// An estimate that falls outside its bounds (interpolation across the edge of a run of one
    /// value can) is moved to the nearest bound: that is closer to the exact percentile, and a
    /// row never contradicts itself.
    /// </summary>
    public static WindowResult Of(string deviceId, long windowStart, long windowEnd, TDigest digest, int revision, bool final, long lastUpdated)
    {
        ArgumentNullException.ThrowIfNull(digest);
        Span<ValueRange> bounds = stackalloc ValueRange[PercentileBounds.Quantiles.Length];
        digest.QuantileBounds(PercentileBounds.Quantiles, bounds);
        Span<double> estimates = stackalloc double[PercentileBounds.Quantiles.Length];
        digest.Quantiles(PercentileBounds.Quantiles, estimates);
        return new WindowResult(
            deviceId, windowStart, windowEnd,
            bounds[0].Clamp(estimates[0]), bounds[1].Clamp(estimates[1]),
            bounds[2].Clamp(estimates[2]), bounds[3].Clamp(estimates[3]),
            digest.Min, digest.Max, digest.Mean, digest.Count,
            revision, final, lastUpdated,
            new PercentileBounds(bounds[0], bounds[1], bounds[2], bounds[3]));
    }
}
