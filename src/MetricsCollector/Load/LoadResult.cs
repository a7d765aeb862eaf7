using HdrHistogram;

namespace MetricsCollector.Load;

/// <summary>A histogram of a run with the name thresholds and file names use, and what it measures.</summary>
public sealed record NamedHistogram(string Name, string Description, HistogramBase Histogram);

/// <summary>A table for the report (per route, per outcome), already formatted.</summary>
public sealed record ReportTable(string Title, IReadOnlyList<string> Header, IReadOnlyList<IReadOnlyList<string>> Rows);

/// <summary>
/// What a finished load run measured. <see cref="Histograms"/>' first entry is the run's main figure (request
/// latency, event → row visible), the one a threshold without a histogram name applies to.
/// <see cref="Failures"/> are what makes a run fail whatever its thresholds (events never seen).
/// </summary>
public sealed record LoadResult(
    string Scenario,
    TimeSpan Elapsed,
    IReadOnlyList<NamedHistogram> Histograms,
    long Operations,
    long Errors,
    double Rate,
    IReadOnlyList<KeyValuePair<string, string>> Facts,
    IReadOnlyList<ReportTable> Tables,
    IReadOnlyList<string> Failures);
