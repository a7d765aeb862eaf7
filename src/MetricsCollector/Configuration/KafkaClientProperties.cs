using System.Collections;
using Akka.Configuration;
using Akka.Configuration.Hocon;
using MetricsCollector.Kafka;

namespace MetricsCollector.Configuration;

/// <summary>
/// The librdkafka properties an operator passes to every Kafka client: <c>metrics-collector.kafka.client { }</c>
/// in HOCON and <c>MC_KAFKA_PROP_&lt;NAME&gt;</c> variables over it, checked by librdkafka itself at start.
/// </summary>
public static class KafkaClientProperties
{
    public const string VariablePrefix = "MC_KAFKA_PROP_";
    private const string Path = "kafka.client";

    /// <summary>The librdkafka name of an <c>MC_KAFKA_PROP_</c> variable: <c>MC_KAFKA_PROP_SASL_MECHANISM</c> is <c>sasl.mechanism</c>.</summary>
    public static string NameOf(string variable) => variable[VariablePrefix.Length..].ToLowerInvariant().Replace('_', '.');

    /// <summary>The properties from the environment alone, for the commands that read no HOCON (<c>generate</c>).</summary>
    public static IReadOnlyDictionary<string, string> FromEnvironment(IDictionary environment) => Read(null, environment);

    internal static IReadOnlyDictionary<string, string> Read(SettingsReader? reader, IDictionary environment)
    {
        var properties = new Dictionary<string, string>(StringComparer.Ordinal);
        var origins = new Dictionary<string, string>(StringComparer.Ordinal);
        if (reader?.Section.GetValue(Path) is { } section)
        {
            if (!section.IsObject())
                throw new ConfigurationException($"{SettingsReader.Root}.{Path} must be an object of librdkafka properties, e.g. {{ \"security.protocol\" = SASL_SSL }}");
            // Unquoted dotted names (sasl.mechanism = PLAIN) are nested objects in HOCON: flatten them back.
            Flatten(section, "", properties, origins);
        }
        foreach (DictionaryEntry entry in environment)
        {
            if (entry.Key is not string variable || !variable.StartsWith(VariablePrefix, StringComparison.Ordinal) || variable.Length == VariablePrefix.Length) continue;
            var name = NameOf(variable);
            properties[name] = entry.Value as string ?? "";
            origins[name] = variable;
        }

        foreach (var (name, origin) in origins)
            if (KafkaClients.EngineOwned.TryGetValue(name, out var instead))
                throw new ConfigurationException($"{origin}: {name} is not passed through ({instead})");
        if (KafkaClients.Check(properties) is not { } complaint) return properties;
        // Blame the one property without which librdkafka is content; properties that only
        // make sense together (a SASL protocol and its mechanism) are judged together.
        var culprit = origins.Keys.FirstOrDefault(name => KafkaClients.Check(properties.Where(p => p.Key != name).ToDictionary()) is null);
        var named = culprit is null ? string.Join(", ", origins.Values.Order(StringComparer.Ordinal)) : origins[culprit];
        throw new ConfigurationException($"{named}: {HoconText.OneLine(complaint)}");
    }

    private static void Flatten(HoconValue value, string prefix, Dictionary<string, string> properties, Dictionary<string, string> origins)
    {
        foreach (var (key, child) in value.GetObject().Items)
        {
            var name = prefix.Length == 0 ? key : $"{prefix}.{key}";
            if (child.IsObject())
            {
                Flatten(child, name, properties, origins);
                continue;
            }
            var origin = $"{SettingsReader.Root}.{Path}.\"{name}\"";
            if (SettingsReader.IsList(child)) throw new ConfigurationException($"{origin}: expected a single value, found a list [ ]");
            properties[name] = child.GetString() ?? "";
            origins[name] = origin;
        }
    }
}
