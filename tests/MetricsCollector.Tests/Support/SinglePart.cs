using MetricsCollector.Core.Digests;
using MetricsCollector.Core.Windows;

namespace MetricsCollector.Testing;

/// <summary>
/// Rows written as what keyed producers give: each window's one part. Rows made up by a test have
/// no values behind them, so the part's digest is the simplest with the row's exact count, min,
/// max and mean (the extremes once each, the rest at the value that makes up the sum); a window
/// with one part is served as its row, so the digest is only read once a second part joins it.
/// </summary>
public static class SinglePart
{
    public static WindowPart Of(WindowResult row, int partition = 0)
    {
        ArgumentNullException.ThrowIfNull(row);
        var digest = new TDigest();
        if (row.Count == 1)
        {
            digest.Add(row.Mean);
        }
        else
        {
            digest.Add(row.Min);
            digest.Add(row.Max);
            if (row.Count > 2) digest.Add((row.Mean * row.Count - row.Min - row.Max) / (row.Count - 2), row.Count - 2);
        }
        return new WindowPart(partition, row, digest.ToBytes());
    }

    public static WindowPart[] Of(IEnumerable<WindowResult> rows) => rows.Select(r => Of(r)).ToArray();
}
