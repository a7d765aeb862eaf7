using System.Globalization;
using HdrHistogram;

namespace MetricsCollector.Load;

/// <summary>
/// How a load run records latencies: microseconds from 1 µs to an hour (event → row visible waits
/// for a window to fire, minutes with 30-minute windows), three significant digits, safe to record
/// into from many threads at once.
/// </summary>
public static class LatencyHistogram
{
    public const long Highest = 3_600_000_000;

    public static LongConcurrentHistogram New() => new(1, Highest, 3);

    /// <summary>Records <paramref name="latency"/>, clamped into the trackable range, so an outlier is counted rather than thrown.</summary>
    public static void Record(HistogramBase histogram, TimeSpan latency) =>
        histogram.RecordValue(Math.Clamp((long)latency.TotalMicroseconds, 1, Highest));

    /// <summary>Microseconds in the unit a person reads best: µs below a millisecond, ms below a second, else s.</summary>
    public static string Format(double micros) => micros switch
    {
        < 1_000 => string.Create(CultureInfo.InvariantCulture, $"{micros:0} µs"),
        < 1_000_000 => string.Create(CultureInfo.InvariantCulture, $"{micros / 1_000:0.00} ms"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{micros / 1_000_000:0.00} s"),
    };

    /// <summary>"p50 … p99 …" so far, for a progress line; "-" before the first value.</summary>
    public static string Brief(HistogramBase histogram) =>
        histogram.TotalCount == 0
            ? "p50 - p99 -"
            : $"p50 {Format(histogram.GetValueAtPercentile(50))} p99 {Format(histogram.GetValueAtPercentile(99))}";
}
