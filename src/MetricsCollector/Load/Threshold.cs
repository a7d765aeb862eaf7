using HdrHistogram;
using System.Globalization;
using System.Text.RegularExpressions;

namespace MetricsCollector.Load;

/// <summary>
/// A pass/fail check on a finished run, NBomber-style: <c>p99&lt;5ms</c>, <c>p99.9&lt;=20ms</c>,
/// <c>max&lt;1s</c>, <c>mean&lt;2ms</c> (on the run's main histogram, or on another one named in front:
/// <c>produce.p99&lt;50ms</c>), <c>errors&lt;1%</c> or <c>errors=0</c>, <c>rate&gt;=1900</c> (achieved per second).
/// </summary>
public sealed partial record Threshold(string Text, string? Histogram, string Measure, string Comparison, double Limit, bool Percent)
{
    public const string Syntax = "[histogram.]p<N>|max|mean <op> <duration>, errors <op> <count>|<N>%, or rate <op> <per second>; op is <, <=, >, >= or =";

    /// <summary>Reads a threshold; throws <see cref="FormatException"/> naming what is wrong.</summary>
    public static Threshold Parse(string text)
    {
        var match = Pattern().Match(text.Trim());
        if (!match.Success)
        {
            throw new FormatException($"threshold '{text}' is not {Syntax}");
        }

        var histogram = match.Groups["histogram"].Success ? match.Groups["histogram"].Value : null;
        var measure = match.Groups["measure"].Value;
        var value = match.Groups["value"].Value.Trim();
        var comparison = match.Groups["op"].Value;
        if (measure is "errors" or "rate")
        {
            if (histogram is not null)
            {
                throw new FormatException($"threshold '{text}': {measure} belongs to the run, not to a histogram");
            }

            var percent = value.EndsWith('%');
            if ((percent && measure == "rate")
                || !double.TryParse(value.TrimEnd('%'), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                throw new FormatException($"threshold '{text}': {measure} takes {(measure == "rate" ? "a number per second" : "a count or a percentage")}, got '{value}'");
            }

            return new Threshold(text, null, measure, comparison, number, percent);
        }

        if (measure.StartsWith('p') && double.Parse(measure[1..], CultureInfo.InvariantCulture) is <= 0 or > 100)
        {
            throw new FormatException($"threshold '{text}': a percentile is above 0 and at most 100");
        }

        if (!Durations.TryParse(value, out var limit))
        {
            throw new FormatException($"threshold '{text}': {measure} takes a duration ({Durations.Accepted}), got '{value}'");
        }

        return new Threshold(text, histogram, measure, comparison, limit.TotalMicroseconds, Percent: false);
    }

    /// <summary>Judges <paramref name="result"/>; an unknown histogram or an empty one fails, since nothing shows the limit holds.</summary>
    public ThresholdOutcome Check(LoadResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        switch (Measure)
        {
            case "errors":
                var errors = Percent ? (result.Operations == 0 ? 0 : 100.0 * result.Errors / result.Operations) : result.Errors;
                return Outcome(errors, Percent ? string.Create(CultureInfo.InvariantCulture, $"{errors:0.###}%") : result.Errors.ToString(CultureInfo.InvariantCulture));
            case "rate":
                return Outcome(result.Rate, string.Create(CultureInfo.InvariantCulture, $"{result.Rate:0.0}/s"));
        }

        var named = Histogram is null ? result.Histograms[0] : result.Histograms.FirstOrDefault(h => h.Name == Histogram);
        if (named is null)
        {
            return new ThresholdOutcome(this, $"no histogram '{Histogram}' (this run has {string.Join(", ", result.Histograms.Select(h => h.Name))})", false);
        }

        var histogram = named.Histogram;
        if (histogram.TotalCount == 0)
        {
            return new ThresholdOutcome(this, "no values", false);
        }

        var observed = Measure switch
        {
            "max" => histogram.GetMaxValue(),
            "mean" => histogram.GetMean(),
            _ => histogram.GetValueAtPercentile(double.Parse(Measure[1..], CultureInfo.InvariantCulture)),
        };
        return Outcome(observed, LatencyHistogram.Format(observed));
    }

    private ThresholdOutcome Outcome(double observed, string text) => new(this, text, Comparison switch
    {
        "<" => observed < Limit,
        "<=" => observed <= Limit,
        ">" => observed > Limit,
        ">=" => observed >= Limit,
        _ => observed == Limit,
    });

    [GeneratedRegex(@"^((?<histogram>[a-z][a-z-]*)\.)?(?<measure>p\d+(\.\d+)?|max|mean|errors|rate)\s*(?<op><=|>=|<|>|=)\s*(?<value>\S+( ?\S+)?)$")]
    private static partial Regex Pattern();
}

/// <summary>A threshold as judged: what was observed, and whether the limit held.</summary>
public sealed record ThresholdOutcome(Threshold Threshold, string Observed, bool Passed);
