using MetricsCollector.Core.Digests;

namespace MetricsCollector.Core.Windows;

/// <summary>
/// The figures of one window over the whole fleet: a row's figures (count, min, max and mean exact, the
/// percentiles from a digest) plus how many devices contributed. Either over every event of every device
/// (<see cref="FleetMerge"/>, from the windows' digests) or over one figure per device
/// (<see cref="OfDevices"/>: how the devices compare by, say, their p95).
/// </summary>
public sealed record FleetFigures(
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
    int Devices)
{
    public static FleetFigures Of(long windowStart, long windowEnd, TDigest digest, int devices)
    {
        ArgumentNullException.ThrowIfNull(digest);
        return new FleetFigures(
            windowStart, windowEnd,
            digest.Quantile(0.50), digest.Quantile(0.90), digest.Quantile(0.95), digest.Quantile(0.99),
            digest.Min, digest.Max, digest.Mean, digest.Count, devices);
    }

    /// <summary>
    /// The distribution of <paramref name="by"/> over the window's rows, one value per device (rows of one
    /// window, one per device, as the store holds them): count is then the number of devices. Null for no rows.
    /// </summary>
    public static FleetFigures? OfDevices(IReadOnlyCollection<WindowResult> rows, RankBy by, double compression = 100)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0) return null;
        var digest = new TDigest(compression);
        var first = rows.First();
        foreach (var row in rows)
        {
            if (row.WindowEnd != first.WindowEnd)
                throw new ArgumentException($"rows of different windows: {first.WindowEnd} and {row.WindowEnd}", nameof(rows));
            digest.Add(by.Figure(row));
        }

        return Of(first.WindowStart, first.WindowEnd, digest, rows.Count);
    }
}
