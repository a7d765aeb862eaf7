using System.Collections;
using System.Globalization;
using System.Text.Json;
using Akka.Configuration;
using MetricsCollector.Core.Windows;

namespace MetricsCollector.Configuration;

/// <summary>
/// The node's configuration: <c>hocon/metrics-collector.conf</c> for the defaults, an optional
/// file given with <c>--config</c> over it, and the <c>MC_*</c> environment variables over both.
/// Everything is checked here, once, so that a bad value stops the node at start with a message
/// that names it instead of failing later inside an actor.
/// </summary>
public sealed record CollectorSettings
{
    private const string Root = "metrics-collector";

    /// <summary>Environment variables and the HOCON path each one sets.</summary>
    public static readonly IReadOnlyDictionary<string, string> EnvironmentPaths = new Dictionary<string, string>
    {
        ["MC_KAFKA_BOOTSTRAP"] = "kafka.bootstrap-servers",
        ["MC_TOPIC"] = "kafka.topic",
        ["MC_WINDOW_SIZE"] = "windows.size",
        ["MC_WINDOW_SLIDE"] = "windows.slide",
        ["MC_MAX_OUT_OF_ORDERNESS"] = "windows.max-out-of-orderness",
        ["MC_ALLOWED_LATENESS"] = "windows.allowed-lateness",
        ["MC_IDLE_TIMEOUT"] = "windows.idle-timeout",
        ["MC_STORE"] = "store.provider",
        ["MC_STORE_CONNECTION"] = "store.connection-string",
        ["MC_HTTP_PORT"] = "http.port",
        ["MC_CLUSTER_HOST"] = "cluster.host",
        ["MC_CLUSTER_PORT"] = "cluster.port",
        ["MC_GENERATOR"] = "generator.enabled",
    };

    public required string KafkaBootstrap { get; init; }
    public required string Topic { get; init; }
    public required string TooLateTopic { get; init; }
    public required string DeadLetterTopic { get; init; }
    public required string GroupId { get; init; }
    public required int Partitions { get; init; }
    public required int PartitionBuffer { get; init; }
    /// <summary>The consumer group's session timeout, or null to choose by broker (<see cref="Kafka.BrokerIdentity.SessionTimeoutFor"/>).</summary>
    public required TimeSpan? KafkaSessionTimeout { get; init; }
    public required WindowSettings Windows { get; init; }
    public required TimeSpan MaxOutOfOrderness { get; init; }
    public required TimeSpan IdleTimeout { get; init; }
    public required string StoreProvider { get; init; }
    public required string StoreConnection { get; init; }

    /// <summary>The connection string of the journal and snapshot store: in PostgreSQL, with the node's pool cap.</summary>
    public string PersistenceConnection => StoreProvider == "postgresql"
        ? ReadSide.PostgresPool.Limit(StoreConnection, ReadSide.PostgresPool.Persistence)
        : StoreConnection;
    public required int HttpPort { get; init; }
    public required string ClusterHost { get; init; }
    public required int ClusterPort { get; init; }
    public required IReadOnlyList<string> SeedNodes { get; init; }
    /// <summary>Whether a member whose cluster port refuses connections is downed at once (<see cref="Membership.RefusedConnectionDowning"/>).</summary>
    public required bool DownOnRefusedConnection { get; init; }
    public required int SnapshotAfterEvents { get; init; }
    public required TimeSpan SnapshotInterval { get; init; }
    public required TimeSpan PassivateAfter { get; init; }
    public required bool GeneratorEnabled { get; init; }
    public required GeneratorSettings Generator { get; init; }

    /// <summary>No bootstrap servers configured: the node runs its own broker in-process.</summary>
    public bool Embedded => string.IsNullOrWhiteSpace(KafkaBootstrap);

    public static CollectorSettings Load(string? configFile = null, IDictionary? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariables();
        var config = ConfigurationFactory.ParseString(File.ReadAllText(DefaultsPath()));
        if (configFile is not null)
        {
            if (!File.Exists(configFile)) throw new ConfigurationException($"--config: file '{configFile}' not found");
            config = ConfigurationFactory.ParseString(File.ReadAllText(configFile)).WithFallback(config);
        }
        var overrides = Overrides(environment);
        if (overrides.Length > 0) config = ConfigurationFactory.ParseString(overrides).WithFallback(config);
        return FromConfig(config.GetConfig(Root), environment);
    }

    public static string DefaultsPath() => Path.Combine(AppContext.BaseDirectory, "hocon", "metrics-collector.conf");

    private static string Overrides(IDictionary environment)
    {
        var lines = new List<string>();
        foreach (var (variable, path) in EnvironmentPaths)
        {
            if (environment[variable] is not string value || value.Length == 0) continue;
            // JSON string quoting is valid HOCON and keeps any character of the value literal.
            lines.Add($"{Root}.{path} = {JsonSerializer.Serialize(value)}");
        }
        return string.Join('\n', lines);
    }

    private static CollectorSettings FromConfig(Config c, IDictionary environment)
    {
        var windows = c.GetConfig("windows");
        var size = Duration(windows, "size", "MC_WINDOW_SIZE");
        var slide = Duration(windows, "slide", "MC_WINDOW_SLIDE");
        var lateness = Duration(windows, "allowed-lateness", "MC_ALLOWED_LATENESS");
        var bound = Duration(windows, "max-out-of-orderness", "MC_MAX_OUT_OF_ORDERNESS");
        var idle = Duration(windows, "idle-timeout", "MC_IDLE_TIMEOUT");
        if (slide <= TimeSpan.Zero || size <= TimeSpan.Zero) throw new ConfigurationException("MC_WINDOW_SIZE and MC_WINDOW_SLIDE must be positive");
        if (size.Ticks % slide.Ticks != 0)
            throw new ConfigurationException($"MC_WINDOW_SIZE ({size}) must be a multiple of MC_WINDOW_SLIDE ({slide})");
        if (idle <= TimeSpan.Zero) throw new ConfigurationException("MC_IDLE_TIMEOUT must be positive");
        if (bound < TimeSpan.Zero || lateness < TimeSpan.Zero) throw new ConfigurationException("durations must not be negative");

        var store = c.GetString("store.provider", "sqlite").Trim().ToLowerInvariant();
        if (store is not ("sqlite" or "postgresql"))
            throw new ConfigurationException($"MC_STORE must be 'sqlite' or 'postgresql', not '{store}'");

        var kafka = c.GetString("kafka.bootstrap-servers", "").Trim();
        var generatorOn = Switch(c, "generator.enabled", "MC_GENERATOR", auto: string.IsNullOrEmpty(kafka));

        return new CollectorSettings
        {
            KafkaBootstrap = kafka,
            Topic = NonEmpty(c, "kafka.topic", "MC_TOPIC"),
            TooLateTopic = NonEmpty(c, "kafka.too-late-topic", "kafka.too-late-topic"),
            DeadLetterTopic = NonEmpty(c, "kafka.dead-letter-topic", "kafka.dead-letter-topic"),
            GroupId = NonEmpty(c, "kafka.group-id", "kafka.group-id"),
            Partitions = Int(c, "kafka.partitions", 1, 10_000),
            PartitionBuffer = Int(c, "kafka.partition-buffer", 10, 1_000_000),
            KafkaSessionTimeout = SessionTimeoutOf(c),
            Windows = new WindowSettings(
                new WindowSpec((long)size.TotalMilliseconds, (long)slide.TotalMilliseconds),
                (long)lateness.TotalMilliseconds,
                c.GetDouble("windows.compression", 100)),
            MaxOutOfOrderness = bound,
            IdleTimeout = idle,
            StoreProvider = store,
            StoreConnection = NonEmpty(c, "store.connection-string", "MC_STORE_CONNECTION"),
            HttpPort = Int(c, "http.port", 0, 65_535, "MC_HTTP_PORT"),
            ClusterHost = NonEmpty(c, "cluster.host", "MC_CLUSTER_HOST"),
            ClusterPort = Int(c, "cluster.port", 0, 65_535, "MC_CLUSTER_PORT"),
            SeedNodes = SeedNodesOf(c, environment),
            DownOnRefusedConnection = Switch(c, "cluster.down-on-refused-connection", "cluster.down-on-refused-connection", auto: null),
            SnapshotAfterEvents = Int(c, "devices.snapshot-after-events", 1, int.MaxValue),
            SnapshotInterval = Duration(c, "devices.snapshot-interval", "devices.snapshot-interval"),
            PassivateAfter = Duration(c, "devices.passivate-after", "devices.passivate-after"),
            GeneratorEnabled = generatorOn,
            Generator = GeneratorSettings.FromConfig(c.GetConfig("generator")),
        };
    }

    private static string[] SeedNodesOf(Config c, IDictionary environment)
    {
        var raw = environment["MC_SEED_NODES"] is string env && env.Length > 0
            ? env.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : c.GetStringList("cluster.seed-nodes").ToArray();
        foreach (var seed in raw)
        {
            var colon = seed.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(seed[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65_535)
                throw new ConfigurationException($"MC_SEED_NODES: '{seed}' is not host:port");
        }
        return raw;
    }

    /// <summary>on or off; auto too where the setting has a default that depends on others.</summary>
    private static bool Switch(Config c, string path, string name, bool? auto)
    {
        var text = c.GetString(path, "auto").Trim().ToLowerInvariant();
        return text switch
        {
            "on" or "true" or "yes" => true,
            "off" or "false" or "no" => false,
            "auto" when auto is { } value => value,
            _ => throw new ConfigurationException($"{name} must be 'on' or 'off'{(auto is null ? "" : " or 'auto'")}, not '{text}'"),
        };
    }

    private static TimeSpan? SessionTimeoutOf(Config c)
    {
        const string path = "kafka.session-timeout";
        if (c.GetString(path, "auto").Trim().Equals("auto", StringComparison.OrdinalIgnoreCase)) return null;
        var timeout = Duration(c, path, path);
        // librdkafka's own bounds; a broker may refuse less (group.min.session.timeout.ms, 6 s by default).
        if (timeout < TimeSpan.FromSeconds(1) || timeout > TimeSpan.FromHours(1))
            throw new ConfigurationException($"{path}: '{c.GetString(path)}' must be 'auto' or between 1s and 1h");
        return timeout;
    }

    private static TimeSpan Duration(Config c, string path, string name)
    {
        try
        {
            return c.GetTimeSpan(path, null, allowInfinite: false);
        }
        catch (Exception e) when (e is not ConfigurationException)
        {
            throw new ConfigurationException($"{name}: '{c.GetString(path)}' is not a duration such as 30m or 10s", e);
        }
    }

    private static int Int(Config c, string path, int min, int max, string? name = null)
    {
        var text = c.GetString(path);
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            throw new ConfigurationException($"{name ?? path}: '{text}' is not a whole number in [{min}, {max}]");
        return value;
    }

    private static string NonEmpty(Config c, string path, string name)
    {
        var value = c.GetString(path, "");
        if (string.IsNullOrWhiteSpace(value)) throw new ConfigurationException($"{name} must not be empty");
        return value;
    }
}
