using System.Globalization;
using System.Text.RegularExpressions;

namespace MetricsCollector.Load;

/// <summary>
/// Durations as a person types them on a command line: <c>250us</c>, <c>5ms</c>, <c>2.5s</c>, <c>10m</c>,
/// <c>1h</c>, or .NET's <c>00:01:30</c>. Shared by the load options and the thresholds, so both read alike.
/// </summary>
public static partial class Durations
{
    public const string Accepted = "a number with us, ms, s, m or h (250ms, 30s, 5m) or hh:mm:ss";

    public static bool TryParse(string text, out TimeSpan duration)
    {
        duration = default;
        var match = WithUnit().Match(text.Trim());
        if (match.Success)
        {
            var value = double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
            var micros = match.Groups["unit"].Value switch
            {
                "us" or "µs" => value,
                "ms" => value * 1_000,
                "s" => value * 1_000_000,
                "m" => value * 60_000_000,
                _ => value * 3_600_000_000,
            };
            duration = TimeSpan.FromMicroseconds(micros);
            return true;
        }

        return text.Contains(':', StringComparison.Ordinal)
            && TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out duration)
            && duration >= TimeSpan.Zero;
    }

    [GeneratedRegex(@"^(?<value>\d+(\.\d+)?)\s*(?<unit>us|µs|ms|s|m|h)$")]
    private static partial Regex WithUnit();
}
