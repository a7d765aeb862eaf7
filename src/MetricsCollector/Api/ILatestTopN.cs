using MetricsCollector.Core.Windows;

namespace MetricsCollector.Api;

/// <summary>
/// The top-N of the latest window that has fired on every partition: the one answer the store cannot give
/// alone, since only the pipeline knows which window every partition has passed. Served by the top-N
/// cluster singleton; the API asks it for <c>/metrics/top/{n}</c> without <c>windowEnd</c>.
/// </summary>
public interface ILatestTopN
{
    /// <summary>
    /// The <paramref name="n"/> highest rows by <paramref name="by"/>, ties by device id ascending, or an
    /// empty list while no window has fired everywhere. Throws <see cref="TimeoutException"/> when the
    /// answer cannot be had in time (the API turns that into 503).
    /// </summary>
    Task<IReadOnlyList<WindowResult>> TopAsync(int n, RankBy by, CancellationToken ct);
}
