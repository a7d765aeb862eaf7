using Akka.Configuration;
using Akka.Configuration.Hocon;

namespace MetricsCollector.Configuration;

/// <summary>
/// HOCON as the node accepts it. Akka's parser takes much that is not HOCON without a word (an
/// object left open, a key with no value becomes an empty one), and a misspelt key is simply
/// never read; both are caught here, so that a broken file stops the node instead of being half read.
/// </summary>
internal static class HoconText
{
    /// <summary>The sections a <c>--config</c> file may hold: ours and Akka's own.</summary>
    private static readonly string[] Sections = [SettingsReader.Root, "akka"];

    /// <summary>The only key under which any name is allowed: librdkafka's properties.</summary>
    private const string FreeForm = "kafka.client";

    public static Config Read(string file, string origin)
    {
        string text;
        try
        {
            text = File.ReadAllText(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigurationException($"{origin}: cannot be read ({e.Message})");
        }
        return Parse(text, origin);
    }

    public static Config Parse(string text, string origin)
    {
        if (Unbalanced(text) is { } problem) throw new ConfigurationException($"{origin}: not valid HOCON: {problem}");
        Config config;
        try
        {
            config = ConfigurationFactory.ParseString(text);
        }
        // The parser throws what it meets (FormatException, NullReferenceException for an include, ...).
        catch (Exception e)
        {
            throw new ConfigurationException($"{origin}: not valid HOCON: {OneLine(e.Message)}");
        }
        if (config.Root is not null && KeyWithoutValue(config.Root, "") is { } key)
            throw new ConfigurationException($"{origin}: not valid HOCON: '{key}' has no value");
        return config;
    }

    /// <summary>Refuses keys of <paramref name="file"/> that the defaults do not have, and objects where they have a value.</summary>
    public static void CheckKeys(Config file, Config defaults, string origin)
    {
        if (file.Root is null || !file.Root.IsObject()) return;
        foreach (var (key, _) in file.Root.GetObject().Items)
            if (!Sections.Contains(key))
                throw new ConfigurationException($"{origin}: '{key}' is not read; the file holds {SettingsReader.Root} {{ }} and akka {{ }}");
        if (file.GetValue(SettingsReader.Root) is { } ours && defaults.GetValue(SettingsReader.Root) is { } known)
            CheckKeys(ours, known, SettingsReader.Root + ".", origin);
    }

    private static void CheckKeys(HoconValue value, HoconValue known, string prefix, string origin)
    {
        if (value.IsObject() != known.IsObject())
            throw new ConfigurationException(known.IsObject()
                ? $"{origin}: {prefix.TrimEnd('.')} is a section {{ }} of settings, not a single value"
                : $"{origin}: {prefix.TrimEnd('.')} takes a single value, not an object {{ }}");
        if (!value.IsObject()) return;
        var knownItems = known.GetObject().Items;
        foreach (var (key, child) in value.GetObject().Items)
        {
            var path = prefix + key;
            if (!knownItems.TryGetValue(key, out var knownChild))
                throw new ConfigurationException($"{origin}: {path} is not a setting (hocon/metrics-collector.conf lists them all)");
            if (path != $"{SettingsReader.Root}.{FreeForm}") CheckKeys(child, knownChild, path + ".", origin);
        }
    }

    private static string? KeyWithoutValue(HoconValue value, string path)
    {
        if (value.Values.Count == 0) return path;
        if (value.IsObject())
        {
            foreach (var (key, child) in value.GetObject().Items)
                if (KeyWithoutValue(child, path.Length == 0 ? key : $"{path}.{key}") is { } found)
                    return found;
        }
        else if (SettingsReader.IsList(value))
        {
            foreach (var element in value.GetArray())
                if (KeyWithoutValue(element, path) is { } found)
                    return found;
        }
        return null;
    }

    /// <summary>
    /// Brackets left open or closed twice, and quotes left open, which Akka's parser lets pass
    /// (it ends what is open at the end of the text). Skips strings and comments.
    /// </summary>
    private static string? Unbalanced(string text)
    {
        var open = new Stack<(char Bracket, int Line)>();
        var line = 1;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\n') line++;
            else if (c == '#' || (c == '/' && i + 1 < text.Length && text[i + 1] == '/'))
            {
                while (i + 1 < text.Length && text[i + 1] != '\n') i++;
            }
            else if (c == '"' && string.CompareOrdinal(text, i, "\"\"\"", 0, 3) == 0)
            {
                var end = text.IndexOf("\"\"\"", i + 3, StringComparison.Ordinal);
                if (end < 0) return $"a \"\"\" string opened on line {line} is never closed";
                line += text.AsSpan(i, end - i).Count('\n');
                i = end + 2;
            }
            else if (c == '"')
            {
                var j = i + 1;
                while (j < text.Length && text[j] != '"' && text[j] != '\n') j += text[j] == '\\' ? 2 : 1;
                if (j >= text.Length || text[j] != '"') return $"a string opened on line {line} is not closed on that line";
                i = j;
            }
            else if (c is '{' or '[') open.Push((c, line));
            else if (c is '}' or ']')
            {
                if (open.Count == 0 || open.Pop().Bracket != (c == '}' ? '{' : '['))
                    return $"'{c}' on line {line} closes nothing that is open";
            }
        }
        return open.Count == 0 ? null : $"'{open.Peek().Bracket}' opened on line {open.Peek().Line} is never closed";
    }

    public static string OneLine(string text) => string.Join(' ', text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
