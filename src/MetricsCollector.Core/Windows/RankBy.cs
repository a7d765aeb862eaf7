namespace MetricsCollector.Core.Windows;

/// <summary>The figure of a <see cref="WindowResult"/> that a top-N ranks devices by.</summary>
public enum RankBy
{
    P50,
    P90,
    P95,
    P99,
    Max,
    Mean,
}

public static class RankByExtensions
{
    /// <summary>What the API uses when no figure is asked for: the original system ranked by p95 only.</summary>
    public const RankBy Default = RankBy.P95;

    public static double Figure(this RankBy by, WindowResult row) => by switch
    {
        RankBy.P50 => row.P50,
        RankBy.P90 => row.P90,
        RankBy.P95 => row.P95,
        RankBy.P99 => row.P99,
        RankBy.Max => row.Max,
        RankBy.Mean => row.Mean,
        _ => throw new ArgumentOutOfRangeException(nameof(by), by, null),
    };

    /// <summary>The name a client writes (<c>p95</c>), the inverse of <see cref="TryParse"/>.</summary>
    public static string Name(this RankBy by) => by switch
    {
        RankBy.P50 => "p50",
        RankBy.P90 => "p90",
        RankBy.P95 => "p95",
        RankBy.P99 => "p99",
        RankBy.Max => "max",
        RankBy.Mean => "mean",
        _ => throw new ArgumentOutOfRangeException(nameof(by), by, null),
    };

    /// <summary>
    /// Accepts exactly the client names (case-insensitive). Not <see cref="Enum.TryParse{TEnum}(string?, bool, out TEnum)"/>:
    /// that also takes numbers such as "7", which would name no figure.
    /// </summary>
    public static bool TryParse(string? text, out RankBy by)
    {
        foreach (var candidate in Enum.GetValues<RankBy>())
        {
            if (string.Equals(text, candidate.Name(), StringComparison.OrdinalIgnoreCase))
            {
                by = candidate;
                return true;
            }
        }

        by = Default;
        return false;
    }

    /// <summary>
    /// Ranking order: highest figure first, ties by device id ascending, ordinal: the stores' byte order,
    /// except for characters beyond U+FFFF, so every node and every store ranks the same rows alike.
    /// </summary>
    public static IComparer<WindowResult> Comparer(this RankBy by) => Comparer<WindowResult>.Create((a, b) =>
    {
        var byFigure = by.Figure(b).CompareTo(by.Figure(a));
        return byFigure != 0 ? byFigure : string.CompareOrdinal(a.DeviceId, b.DeviceId);
    });

    /// <summary>
    /// The first <paramref name="n"/> of <paramref name="rows"/> in ranking order (<see cref="Comparer"/>), as a
    /// sort of all of them would give. A heap of the <paramref name="n"/> best seen so far, its last-ranked on top:
    /// a window of 100,000 devices is one pass, where sorting all of them for the ten first took the top-N
    /// singleton a tenth of a second after every batch of new rows.
    /// </summary>
    public static WindowResult[] Top(this RankBy by, IEnumerable<WindowResult> rows, int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        if (n == 0) return [];
        var ranking = by.Comparer();
        var best = new PriorityQueue<WindowResult, WindowResult>(n + 1, Comparer<WindowResult>.Create((a, b) => ranking.Compare(b, a)));
        foreach (var row in rows)
        {
            if (best.Count < n) best.Enqueue(row, row);
            else if (ranking.Compare(row, best.Peek()) < 0) best.EnqueueDequeue(row, row);
        }

        var top = new WindowResult[best.Count];
        for (var i = top.Length - 1; i >= 0; i--) top[i] = best.Dequeue();
        return top;
    }
}
