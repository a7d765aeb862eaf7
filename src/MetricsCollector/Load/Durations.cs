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

    /// <summary>The shortest way to type <paramref name="duration"/> back: <c>250ms</c>, <c>15s</c>, <c>10m</c>, <c>1h</c>.</summary>
    public static string Format(TimeSpan duration) => duration switch
    {
        { Ticks: 0 } => "0s",
        _ when duration.Ticks % TimeSpan.TicksPerHour == 0 => string.Create(CultureInfo.InvariantCulture, $"{duration.TotalHours:0}h"),
        _ when duration.Ticks % TimeSpan.TicksPerMinute == 0 => string.Create(CultureInfo.InvariantCulture, $"{duration.TotalMinutes:0}m"),
        _ when duration.Ticks % TimeSpan.TicksPerSecond == 0 => string.Create(CultureInfo.InvariantCulture, $"{duration.TotalSeconds:0}s"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{duration.TotalMilliseconds:0.###}ms"),
    };

    [GeneratedRegex(@"^(?<value>\d+(\.\d+)?)\s*(?<unit>us|µs|ms|s|m|h)$")]
    private static partial Regex WithUnit();
}
