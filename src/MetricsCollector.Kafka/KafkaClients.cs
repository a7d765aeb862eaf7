using System.Text.RegularExpressions;
using Confluent.Kafka;

namespace MetricsCollector.Kafka;

/// <summary>
/// The one place where the configuration of a Kafka client is made: the bootstrap servers plus
/// the librdkafka properties an operator passes through (SASL, TLS, client ids, ...), so that
/// every client of the node (consumer, producers, admin, side-topic readers) reaches a secured
/// cluster the same way. Callers set what their job needs on top of the returned config.
/// </summary>
public sealed partial class KafkaClients
{
    /// <summary>
    /// Properties the engine sets itself, with what to use instead. Passing them through would
    /// either be overwritten without a word or break what exactly-once relies on.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> EngineOwned = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["bootstrap.servers"] = "set by MC_KAFKA_BOOTSTRAP",
        ["group.id"] = "set by metrics-collector.kafka.group-id",
        ["session.timeout.ms"] = "set by metrics-collector.kafka.session-timeout",
        ["enable.auto.commit"] = "offsets are committed by the engine, after the devices' snapshots",
        ["enable.auto.offset.store"] = "offsets are committed by the engine, after the devices' snapshots",
        ["auto.offset.reset"] = "a new consumer group starts from the earliest retained offset",
        ["enable.idempotence"] = "side-topic and generator producers are idempotent so that retries never duplicate",
        ["acks"] = "idempotent producers need acks=all",
        ["transactional.id"] = "the engine's producers are not transactional",
        ["partitioner"] = "the generator keys with murmur2 and side records choose their partition",
    };

    public KafkaClients(string bootstrapServers, IReadOnlyDictionary<string, string>? properties = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(bootstrapServers);
        BootstrapServers = bootstrapServers;
        Properties = properties ?? new Dictionary<string, string>();
    }

    public string BootstrapServers { get; }

    /// <summary>The pass-through librdkafka properties, by their librdkafka names.</summary>
    public IReadOnlyDictionary<string, string> Properties { get; }

    public ProducerConfig Producer() => new(Common());

    public ConsumerConfig Consumer(string groupId) => new(Common()) { GroupId = groupId };

    public AdminClientConfig Admin() => new(Common());

    /// <summary>
    /// What librdkafka says of <paramref name="properties"/> (an unknown name, a bad value, a
    /// SASL mechanism without its protocol, a certificate file that is missing), or null when it
    /// takes them. It makes a client with them, without bootstrap servers, so nothing connects.
    /// Its configuration warnings count too (a SASL setting without a SASL protocol is ignored
    /// with only a warning), except that a consumer's property does not apply to this client.
    /// </summary>
    public static string? Check(IReadOnlyDictionary<string, string> properties)
    {
        ArgumentNullException.ThrowIfNull(properties);
        if (properties.Count == 0) return null;
        var warnings = new List<string>();
        try
        {
            // librdkafka logs its configuration warnings from the constructing thread, before Build returns.
            using var client = new AdminClientBuilder(new AdminClientConfig(new Dictionary<string, string>(properties)))
                .SetLogHandler((_, log) =>
                {
                    if (log.Facility == "CONFWARN" && !log.Message.Contains("bootstrap.servers", StringComparison.Ordinal)
                        && !log.Message.Contains("ignored by this producer", StringComparison.Ordinal))
                        lock (warnings) warnings.Add(log.Message);
                })
                .Build();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or KafkaException)
        {
            return e.Message;
        }
        lock (warnings) return warnings.Count == 0 ? null : ThreadPrefix().Replace(warnings[0], "");
    }

    private Dictionary<string, string> Common() =>
        new(Properties, StringComparer.Ordinal) { ["bootstrap.servers"] = BootstrapServers };

    [GeneratedRegex(@"^\[thrd:[^\]]*\]:\s*")]
    private static partial Regex ThreadPrefix();
}
