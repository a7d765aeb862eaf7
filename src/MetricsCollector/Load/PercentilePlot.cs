using System.Globalization;
using System.Text;
using HdrHistogram;

namespace MetricsCollector.Load;

/// <summary>
/// Latency by percentile as an SVG line chart, the way HdrHistogram's plotter draws it: the x axis is
/// log(1 / (1 − percentile)), so 90 %, 99 %, 99.9 % … are equally spaced and the tail gets the room it
/// deserves; the y axis is linear, in milliseconds or, for tails of ten seconds and more, seconds. Drawn here, so the report needs no script or CDN.
/// </summary>
public static class PercentilePlot
{
    private const int Width = 720;
    private const int Height = 320;
    private const int Left = 64;
    private const int Right = 36;
    private const int Top = 24;
    private const int Bottom = 40;

    public static string Svg(NamedHistogram named)
    {
        ArgumentNullException.ThrowIfNull(named);
        var histogram = named.Histogram;
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"""<svg xmlns="http://www.w3.org/2000/svg" class="percentile-plot" width="{Width}" height="{Height}" viewBox="0 0 {Width} {Height}" font-family="sans-serif" font-size="11">""");
        svg.Append(CultureInfo.InvariantCulture, $"""<text x="{Left}" y="14" font-size="13" font-weight="bold">{Escape(named.Name)}: {Escape(named.Description)}</text>""");
        if (histogram.TotalCount == 0)
        {
            svg.Append(CultureInfo.InvariantCulture, $"""<text x="{Left}" y="{Height / 2}">no values</text></svg>""");
            return svg.ToString();
        }

        // Beyond about log10(count) nines the percentiles are single samples; the axis stops there.
        var nines = Math.Max(2, (int)Math.Ceiling(Math.Log10(histogram.TotalCount)));
        // Seconds once the tail reaches ten of them (event → visible), so the labels stay short.
        var (perUnit, unit) = histogram.GetMaxValue() >= 10_000_000 ? (1_000_000.0, "s") : (1_000.0, "ms");
        var yTop = NiceCeiling(histogram.GetMaxValue() / perUnit);
        double X(double percentile) => Left + ((Width - Left - Right) * Math.Min(Nines(percentile), nines) / nines);
        double Y(double value) => Top + ((Height - Top - Bottom) * (1 - (value / yTop)));

        for (var tick = 0; tick <= nines; tick++)
        {
            var x = X(100 * (1 - Math.Pow(10, -tick)));
            var label = tick == 0 ? "0%" : (100 * (1 - Math.Pow(10, -tick))).ToString("0.#########", CultureInfo.InvariantCulture) + "%";
            svg.Append(CultureInfo.InvariantCulture, $"""<line x1="{x:0.#}" y1="{Top}" x2="{x:0.#}" y2="{Height - Bottom}" stroke="#ddd"/><text x="{x:0.#}" y="{Height - Bottom + 14}" text-anchor="middle">{label}</text>""");
        }

        for (var i = 0; i <= 4; i++)
        {
            var value = yTop * i / 4;
            var y = Y(value);
            svg.Append(CultureInfo.InvariantCulture, $"""<line x1="{Left}" y1="{y:0.#}" x2="{Width - Right}" y2="{y:0.#}" stroke="#ddd"/><text x="{Left - 6}" y="{y + 4:0.#}" text-anchor="end">{value.ToString("0.###", CultureInfo.InvariantCulture)}</text>""");
        }

        svg.Append(CultureInfo.InvariantCulture, $"""<text x="{(Left + Width - Right) / 2}" y="{Height - 6}" text-anchor="middle">percentile</text><text x="14" y="{(Top + Height - Bottom) / 2}" text-anchor="middle" transform="rotate(-90 14 {(Top + Height - Bottom) / 2})">latency ({unit})</text>""");
        svg.Append("""<polyline fill="none" stroke="#1f6feb" stroke-width="2" points=" """);
        foreach (var step in histogram.Percentiles(5))
        {
            svg.Append(CultureInfo.InvariantCulture, $"{X(step.Percentile):0.#},{Y(step.ValueIteratedTo / perUnit):0.#} ");
        }

        svg.Append("\"/></svg>");
        return svg.ToString();
    }

    /// <summary>log10(1 / (1 − p)): 0 at 0 %, 1 at 90 %, 2 at 99 %; infinite at 100 %, which the caller caps.</summary>
    private static double Nines(double percentile) => percentile >= 100 ? double.PositiveInfinity : -Math.Log10(1 - (percentile / 100));

    /// <summary>The next 1, 2 or 5 × 10^k at or above <paramref name="value"/>, so the axis has round labels.</summary>
    private static double NiceCeiling(double value)
    {
        if (value <= 0)
        {
            return 1;
        }

        var power = Math.Pow(10, Math.Floor(Math.Log10(value)));
        foreach (var step in new[] { 1.0, 2, 5, 10 })
        {
            if (step * power >= value)
            {
                return step * power;
            }
        }

        return 10 * power;
    }

    internal static string Escape(string text) => System.Net.WebUtility.HtmlEncode(text);
}
