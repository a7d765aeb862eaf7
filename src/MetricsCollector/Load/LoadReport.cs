using System.Globalization;
using System.Text;
using HdrHistogram;

namespace MetricsCollector.Load;

/// <summary>
/// Writes a run's report folder: <c>summary.md</c> (also what the console shows at the end),
/// <c>report.html</c> (the same tables and a latency-by-percentile plot per histogram, inline SVG, no
/// script) and one <c>NAME.hgrm</c> per histogram (HdrHistogram's percentile distribution, in
/// milliseconds, which HdrHistogram's plotters and other tools read).
/// </summary>
public static class LoadReport
{
    private static readonly double[] Percentiles = [50, 90, 99, 99.9];

    public static string Write(string folder, LoadResult result, IReadOnlyList<ThresholdOutcome> thresholds)
    {
        ArgumentNullException.ThrowIfNull(result);
        Directory.CreateDirectory(folder);
        var summary = Summary(result, thresholds);
        File.WriteAllText(Path.Combine(folder, "summary.md"), summary);
        File.WriteAllText(Path.Combine(folder, "report.html"), Html(result, thresholds));
        foreach (var named in result.Histograms)
        {
            using var file = File.CreateText(Path.Combine(folder, $"{named.Name}.hgrm"));
            // Recorded in microseconds, written in milliseconds, as HdrHistogram's own tools show latency.
            named.Histogram.OutputPercentileDistribution(file, 5, 1000.0);
        }

        return summary;
    }

    public static string Summary(LoadResult result, IReadOnlyList<ThresholdOutcome> thresholds)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(thresholds);
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"# Load run: {result.Scenario}\n\n");
        foreach (var (name, value) in result.Facts)
        {
            text.Append(CultureInfo.InvariantCulture, $"- {name}: {value}\n");
        }

        foreach (var table in Tables(result, thresholds))
        {
            text.Append(CultureInfo.InvariantCulture, $"\n## {table.Title}\n\n| {string.Join(" | ", table.Header)} |\n|{string.Concat(table.Header.Select(_ => "---|"))}\n");
            foreach (var row in table.Rows)
            {
                text.Append(CultureInfo.InvariantCulture, $"| {string.Join(" | ", row)} |\n");
            }
        }

        if (result.Failures.Count > 0)
        {
            text.Append("\n## Failures\n\n");
            foreach (var failure in result.Failures)
            {
                text.Append(CultureInfo.InvariantCulture, $"- {failure}\n");
            }
        }

        return text.ToString();
    }

    private static string Html(LoadResult result, IReadOnlyList<ThresholdOutcome> thresholds)
    {
        static string E(string s) => PercentilePlot.Escape(s);
        var html = new StringBuilder();
        html.Append(CultureInfo.InvariantCulture, $$"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Load run: {{E(result.Scenario)}}</title>
            <style>body{font-family:sans-serif;margin:2em;color:#222} table{border-collapse:collapse;margin:1em 0}
            td,th{border:1px solid #ccc;padding:4px 8px;text-align:right;white-space:nowrap} td:first-child,th:first-child{text-align:left} td:last-child{white-space:normal;text-align:left}
            .failed{color:#b00;font-weight:bold} .passed{color:#080}</style></head><body>
            <h1>Load run: {{E(result.Scenario)}}</h1><ul>
            """);
        foreach (var (name, value) in result.Facts)
        {
            html.Append(CultureInfo.InvariantCulture, $"<li>{E(name)}: {E(value)}</li>");
        }

        html.Append("</ul>");
        foreach (var table in Tables(result, thresholds))
        {
            html.Append(CultureInfo.InvariantCulture, $"<h2>{E(table.Title)}</h2><table><tr>");
            foreach (var head in table.Header)
            {
                html.Append(CultureInfo.InvariantCulture, $"<th>{E(head)}</th>");
            }

            html.Append("</tr>");
            foreach (var row in table.Rows)
            {
                html.Append("<tr>");
                foreach (var cell in row)
                {
                    var css = cell switch { "passed" => " class=\"passed\"", "FAILED" => " class=\"failed\"", _ => "" };
                    html.Append(CultureInfo.InvariantCulture, $"<td{css}>{E(cell)}</td>");
                }

                html.Append("</tr>");
            }

            html.Append("</table>");
        }

        if (result.Failures.Count > 0)
        {
            html.Append("<h2>Failures</h2><ul>");
            foreach (var failure in result.Failures)
            {
                html.Append(CultureInfo.InvariantCulture, $"<li class=\"failed\">{E(failure)}</li>");
            }

            html.Append("</ul>");
        }

        html.Append("<h2>Latency by percentile</h2>");
        foreach (var named in result.Histograms)
        {
            html.Append("<div>").Append(PercentilePlot.Svg(named)).Append("</div>");
        }

        return html.Append("</body></html>\n").ToString();
    }

    /// <summary>The histograms' percentiles first, then the scenario's own tables, then the thresholds.</summary>
    private static IEnumerable<ReportTable> Tables(LoadResult result, IReadOnlyList<ThresholdOutcome> thresholds)
    {
        yield return new ReportTable(
            "Latency",
            ["histogram", "count", .. Percentiles.Select(p => $"p{p.ToString(CultureInfo.InvariantCulture)}"), "max", "mean", "what"],
            result.Histograms.Select(h => Row(h.Name, h.Histogram, h.Description)).ToList());
        foreach (var table in result.Tables)
        {
            yield return table;
        }

        if (thresholds.Count > 0)
        {
            yield return new ReportTable(
                "Thresholds",
                ["threshold", "observed", "result"],
                thresholds.Select(t => (IReadOnlyList<string>)[t.Threshold.Text, t.Observed, t.Passed ? "passed" : "FAILED"]).ToList());
        }
    }

    /// <summary>A histogram's row: count, the report's percentiles, max and mean, each in a readable unit.</summary>
    public static IReadOnlyList<string> Row(string name, HistogramBase histogram, string? description = null)
    {
        ArgumentNullException.ThrowIfNull(histogram);
        var empty = histogram.TotalCount == 0;
        string Cell(Func<double> value) => empty ? "-" : LatencyHistogram.Format(value());
        List<string> row = [name, histogram.TotalCount.ToString("N0", CultureInfo.InvariantCulture)];
        row.AddRange(Percentiles.Select(p => Cell(() => histogram.GetValueAtPercentile(p))));
        row.Add(Cell(() => histogram.GetMaxValue()));
        row.Add(Cell(histogram.GetMean));
        if (description is not null)
        {
            row.Add(description);
        }

        return row;
    }
}
