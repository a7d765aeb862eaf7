using System.Globalization;
using System.Text.RegularExpressions;
using Akka.Configuration;
using Akka.Configuration.Hocon;

namespace MetricsCollector.Configuration;

/// <summary>
/// Reads typed values from the merged <c>metrics-collector</c> section and checks each one, so
/// that a bad value stops the node with one line that names where it came from: the variable
/// when an <c>MC_*</c> variable set it, the HOCON key otherwise.
/// </summary>
/// <param name="variables">The variable of each path that has one.</param>
/// <param name="set">The paths whose variable is set, and so won.</param>
internal sealed partial class SettingsReader(Config section, IReadOnlyDictionary<string, string> variables, IReadOnlySet<string> set)
{
    public const string Root = "metrics-collector";

    /// <summary>The variable that set <paramref name="path"/>; else its full HOCON key, with the variable that could set it.</summary>
    public string Name(string path) => variables.TryGetValue(path, out var variable)
        ? set.Contains(path) ? variable : $"{Root}.{path} ({variable})"
        : $"{Root}.{path}";

    public Config Section => section;

    public ConfigurationException Error(string path, string accepts) =>
        new($"{Name(path)}: '{Text(path)}' {accepts}");

    /// <summary>A single value, not an object or a list (Akka reads those as an empty string).</summary>
    public string Text(string path)
    {
        var value = section.GetValue(path);
        if (value is null) return "";
        if (value.IsObject() || IsList(value))
            throw new ConfigurationException($"{Name(path)}: expected a single value, found {(value.IsObject() ? "an object { }" : "a list [ ]")}");
        return value.GetString() ?? "";
    }

    /// <summary>A list, empty or not (Akka's own IsArray says no to []).</summary>
    public static bool IsList(HoconValue value) => value.Values.Count > 0 && value.Values.All(v => v.IsArray());

    /// <summary>A HOCON duration with its unit (a bare number would silently mean milliseconds).</summary>
    public TimeSpan Duration(string path, TimeSpan min, TimeSpan max)
    {
        var text = Text(path).Trim();
        var accepts = $"must be a duration such as 30m or 10s, from {Format(min)} to {Format(max)}";
        if (!DurationPattern().IsMatch(text)) throw Error(path, accepts);
        TimeSpan value;
        try
        {
            value = section.GetTimeSpan(path, null, allowInfinite: false);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or OverflowException)
        {
            throw Error(path, accepts);
        }
        return value >= min && value <= max ? value : throw Error(path, accepts);
    }

    public int Int(string path, int min, int max)
    {
        var text = Text(path).Trim();
        return int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw Error(path, $"must be a whole number from {min} to {max}");
    }

    public double Double(string path, double min, double max)
    {
        var text = Text(path).Trim();
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw Error(path, $"must be a number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}");
    }

    public string NonEmpty(string path)
    {
        var text = Text(path);
        return string.IsNullOrWhiteSpace(text) ? throw new ConfigurationException($"{Name(path)} must not be empty") : text;
    }

    /// <summary>One of <paramref name="choices"/>, in any case.</summary>
    public string Choice(string path, params string[] choices)
    {
        var text = Text(path).Trim().ToLowerInvariant();
        return choices.Contains(text) ? text : throw Error(path, $"must be {Alternatives(choices)}");
    }

    /// <summary>on or off; also auto where the default depends on other settings.</summary>
    public bool Switch(string path, bool? auto)
    {
        var text = Text(path).Trim().ToLowerInvariant();
        return text switch
        {
            "on" or "true" or "yes" => true,
            "off" or "false" or "no" => false,
            "auto" when auto is { } value => value,
            _ => throw Error(path, auto is null ? "must be 'on' or 'off'" : "must be 'on', 'off' or 'auto'"),
        };
    }

    /// <summary>A Kafka topic name: what the broker accepts (letters, digits, '.', '_', '-', at most 249).</summary>
    public string Topic(string path)
    {
        var text = Text(path).Trim();
        return TopicPattern().IsMatch(text) && text is not ("." or "..")
            ? text
            : throw Error(path, "is not a Kafka topic name (letters, digits, '.', '_' and '-', at most 249)");
    }

    /// <summary>A host name or an IP address.</summary>
    public string Host(string path)
    {
        var text = Text(path).Trim();
        return Uri.CheckHostName(text) != UriHostNameType.Unknown ? text : throw Error(path, "is not a host name or an IP address");
    }

    /// <summary>librdkafka's bootstrap list: comma-separated [protocol://]host[:port].</summary>
    public string Bootstrap(string path)
    {
        var text = Text(path).Trim();
        if (text.Length == 0) return text;
        foreach (var entry in text.Split(',', StringSplitOptions.TrimEntries))
        {
            var match = BootstrapEntry().Match(entry);
            if (!match.Success || (match.Groups["port"].Success && !IsPort(match.Groups["port"].Value)))
                throw Error(path, "is not a comma-separated list of host:port");
        }
        return text;
    }

    /// <summary>"host:port" entries, as seed nodes are listed.</summary>
    public static bool IsHostPort(string entry)
    {
        var colon = entry.LastIndexOf(':');
        return colon > 0 && IsPort(entry[(colon + 1)..]) && Uri.CheckHostName(entry[..colon].Trim('[', ']')) != UriHostNameType.Unknown;
    }

    private static bool IsPort(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is >= 1 and <= 65_535;

    /// <summary>How HOCON writes <paramref name="value"/>: 10ms, 30s, 5m, 1h, 7d.</summary>
    public static string Format(TimeSpan value) => value switch
    {
        { TotalDays: >= 1 } when value.Ticks % TimeSpan.TicksPerDay == 0 => $"{value.TotalDays:0}d",
        { TotalHours: >= 1 } when value.Ticks % TimeSpan.TicksPerHour == 0 => $"{value.TotalHours:0}h",
        { TotalMinutes: >= 1 } when value.Ticks % TimeSpan.TicksPerMinute == 0 => $"{value.TotalMinutes:0}m",
        { TotalSeconds: >= 1 } when value.Ticks % TimeSpan.TicksPerSecond == 0 => $"{value.TotalSeconds:0}s",
        { Ticks: 0 } => "0s",
        _ => $"{value.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)}ms",
    };

    private static string Alternatives(string[] choices) =>
        choices.Length == 1 ? $"'{choices[0]}'" : string.Join(", ", choices[..^1].Select(c => $"'{c}'")) + $" or '{choices[^1]}'";

    [GeneratedRegex(@"^\d+(\.\d+)?\s*[a-zA-Z]+$")]
    private static partial Regex DurationPattern();

    [GeneratedRegex(@"^[a-zA-Z0-9._-]{1,249}$")]
    private static partial Regex TopicPattern();

    [GeneratedRegex(@"^([a-zA-Z_]+://)?(\[[0-9a-fA-F:.]+\]|[^:/\s\[\]]+)(:(?<port>\d+))?$")]
    private static partial Regex BootstrapEntry();
}
