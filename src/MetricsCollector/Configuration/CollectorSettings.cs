using System.Collections;
using System.Net;
using System.Net.Sockets;
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
    /// <summary>Environment variables and the HOCON path each one sets.</summary>
    public static readonly IReadOnlyDictionary<string, string> EnvironmentPaths = new Dictionary<string, string>
    {
        ["MC_KAFKA_BOOTSTRAP"] = "kafka.bootstrap-servers",
        ["MC_TOPIC"] = "kafka.topic",
        ["MC_RESULTS_TOPIC"] = "kafka.results-topic",
        ["MC_WINDOW_SIZE"] = "windows.size",
        ["MC_WINDOW_SLIDE"] = "windows.slide",
        ["MC_MAX_OUT_OF_ORDERNESS"] = "windows.max-out-of-orderness",
        ["MC_ALLOWED_LATENESS"] = "windows.allowed-lateness",
        ["MC_IDLE_TIMEOUT"] = "windows.idle-timeout",
        ["MC_MAX_FUTURE_SKEW"] = "windows.max-future-skew",
        ["MC_STORE"] = "store.provider",
        ["MC_STORE_CONNECTION"] = "store.connection-string",
        ["MC_RETENTION"] = "store.retention",
        ["MC_HTTP_HOST"] = "http.host",
        ["MC_HTTP_PORT"] = "http.port",
        ["MC_CLUSTER_HOST"] = "cluster.host",
        ["MC_CLUSTER_PORT"] = "cluster.port",
        ["MC_SEED_NODES"] = "cluster.seed-nodes",
        ["MC_GENERATOR"] = "generator.enabled",
        ["MC_LOG_LEVEL"] = "log-level",
    };

    /// <summary>Variables whose empty value means something (off) rather than "not set".</summary>
    private static readonly HashSet<string> EmptyMeansOff = ["MC_RESULTS_TOPIC"];

    private static readonly TimeSpan Millisecond = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan Year = TimeSpan.FromDays(366);

    public required string KafkaBootstrap { get; init; }
    public required string Topic { get; init; }
    public required string TooLateTopic { get; init; }
    public required string DeadLetterTopic { get; init; }
    /// <summary>The compacted topic every revision of every row goes to; null when turned off.</summary>
    public required string? ResultsTopic { get; init; }
    public required string GroupId { get; init; }
    public required int Partitions { get; init; }
    public required int PartitionBuffer { get; init; }
    /// <summary>The consumer group's session timeout, or null to choose by broker (<see cref="Kafka.BrokerIdentity.SessionTimeoutFor"/>).</summary>
    public required TimeSpan? KafkaSessionTimeout { get; init; }
    /// <summary>Records of a partition handed to its actor at a time, and taken from librdkafka at a time.</summary>
    public required int ConsumerBatchSize { get; init; }
    /// <summary>How long after a failed Kafka consumer a new one starts.</summary>
    public required TimeSpan ConsumerRestartDelay { get; init; }
    /// <summary>How often the node asks the broker for the input topic's partitions (and librdkafka refreshes its metadata).</summary>
    public required TimeSpan MetadataRefresh { get; init; }
    /// <summary>librdkafka properties for every Kafka client (<see cref="Kafka.KafkaClients"/>).</summary>
    public required IReadOnlyDictionary<string, string> KafkaClientProperties { get; init; }
    public required WindowSettings Windows { get; init; }
    public required TimeSpan MaxOutOfOrderness { get; init; }
    public required TimeSpan IdleTimeout { get; init; }
    /// <summary>How far an event's time may be ahead of its Kafka record's timestamp.</summary>
    public required TimeSpan MaxFutureSkew { get; init; }
    public required PartitionSettings Partition { get; init; }
    public required string StoreProvider { get; init; }
    public required string StoreConnection { get; init; }
    /// <summary>Rows whose window ended longer ago are deleted.</summary>
    public required TimeSpan Retention { get; init; }
    /// <summary>PostgreSQL: the percentage of each page of rows and parts that inserts fill.</summary>
    public required int StoreFillFactor { get; init; }
    /// <summary>SQLite: the page cache and the write-ahead log's checkpoint (the result store's and the snapshot table's).</summary>
    public required SqliteSettings StoreSqlite { get; init; }
    public required ResultWriterSettings ResultWriter { get; init; }
    /// <summary>Result rows not yet stored a node holds at most before its partitions stop taking records.</summary>
    public required int WriteBacklogRows { get; init; }

    /// <summary>How the snapshot store batches saves and loads.</summary>
    public required SnapshotStoreSettings SnapshotStore { get; init; }

    /// <summary>The connection string of the snapshot store: in PostgreSQL, with the node's pool cap.</summary>
    public string PersistenceConnection => StoreProvider == "postgresql"
        ? ReadSide.PostgresPool.Limit(StoreConnection, ReadSide.PostgresPool.Persistence)
        : StoreConnection;
    public required string HttpHost { get; init; }
    public required int HttpPort { get; init; }
    /// <summary>How long the API waits for the top-N singleton.</summary>
    public required TimeSpan TopNTimeout { get; init; }
    /// <summary>How often a node that is behind says how far, and when it will have caught up.</summary>
    public required TimeSpan CatchUpReportInterval { get; init; }
    /// <summary>Records behind from which a node counts as catching up.</summary>
    public required long CatchUpReportThreshold { get; init; }
    /// <summary>Windows whose fleet figures a node keeps computed.</summary>
    public required int FleetCacheWindows { get; init; }
    /// <summary>How often a node with nothing queued sweeps the store for rows owed to the results topic.</summary>
    public required TimeSpan ResultsSweepInterval { get; init; }
    /// <summary>How long a stored row waits for its own node's producer before any node's sweep produces it.</summary>
    public required TimeSpan ResultsOwedGrace { get; init; }
    public required string ClusterHost { get; init; }
    public required int ClusterPort { get; init; }
    public required IReadOnlyList<string> SeedNodes { get; init; }
    /// <summary>Whether a member whose cluster port refuses connections is downed at once (<see cref="Membership.RefusedConnectionDowning"/>).</summary>
    public required bool DownOnRefusedConnection { get; init; }
    public required int SnapshotAfterEvents { get; init; }
    public required TimeSpan SnapshotInterval { get; init; }
    public required TimeSpan PassivateAfter { get; init; }
    public required TimeSpan SnapshotTimeout { get; init; }
    public required bool GeneratorEnabled { get; init; }
    public required GeneratorSettings Generator { get; init; }

    /// <summary>The level of Akka's and the libraries' logs.</summary>
    public required LogLevel LogLevel { get; init; }

    /// <summary>
    /// The level of the node's own logs: they are few (assignments, the generator, replay progress)
    /// and meant for the operator, so they stay at Information when only warnings are asked of the rest.
    /// </summary>
    public LogLevel OwnLogLevel => LogLevel == LogLevel.Warning ? LogLevel.Information : LogLevel;

    /// <summary>The <c>akka { }</c> section of the <c>--config</c> file, which goes over the node's Akka configuration.</summary>
    public Config AkkaOverrides { get; init; } = Config.Empty;

    /// <summary>No bootstrap servers configured: the node runs its own broker in-process.</summary>
    public bool Embedded => string.IsNullOrWhiteSpace(KafkaBootstrap);

    /// <summary>What Kestrel binds: an IPv6 address goes in brackets.</summary>
    public string HttpBindUrl => $"http://{UrlHost(HttpHost)}:{HttpPort}";

    /// <summary>Where a person on this machine reaches the API: loopback when the API binds every address.</summary>
    public string HttpLocalUrl => $"http://{UrlHost(IPAddress.TryParse(HttpHost, out var any) && (any.Equals(IPAddress.Any) || any.Equals(IPAddress.IPv6Any)) ? "127.0.0.1" : HttpHost)}:{HttpPort}";

    public static CollectorSettings Load(string? configFile = null, IDictionary? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariables();
        var defaults = HoconText.Read(DefaultsPath(), DefaultsPath());
        var config = defaults;
        var akka = Config.Empty;
        if (configFile is not null)
        {
            var origin = $"--config {configFile}";
            if (!File.Exists(configFile)) throw new ConfigurationException($"{origin}: file not found");
            var file = HoconText.Read(configFile, origin);
            HoconText.CheckKeys(file, defaults, origin);
            config = file.WithFallback(defaults);
            akka = file.GetValue("akka")?.AtKey("akka") ?? Config.Empty;
            AkkaConfiguration.Check(akka);
        }
        var (overrides, set) = Overrides(environment);
        if (overrides.Length > 0) config = ConfigurationFactory.ParseString(overrides).WithFallback(config);
        return FromConfig(new SettingsReader(config.GetConfig(SettingsReader.Root), EnvironmentPaths.ToDictionary(e => e.Value, e => e.Key), set), environment) with { AkkaOverrides = akka };
    }

    public static string DefaultsPath() => Path.Combine(AppContext.BaseDirectory, "hocon", "metrics-collector.conf");

    /// <summary>HOCON lines for the variables that are set, and the paths they set.</summary>
    private static (string Hocon, HashSet<string> Set) Overrides(IDictionary environment)
    {
        var lines = new List<string>();
        var set = new HashSet<string>();
        foreach (var (variable, path) in EnvironmentPaths)
        {
            if (environment[variable] is not string value || (value.Length == 0 && !EmptyMeansOff.Contains(variable))) continue;
            // JSON quoting is valid HOCON and keeps every character of the value literal.
            var hocon = variable == "MC_SEED_NODES"
                ? JsonSerializer.Serialize(value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                : JsonSerializer.Serialize(value);
            lines.Add($"{SettingsReader.Root}.{path} = {hocon}");
            set.Add(path);
        }
        return (string.Join('\n', lines), set);
    }

    private static CollectorSettings FromConfig(SettingsReader c, IDictionary environment)
    {
        var size = c.Duration("windows.size", Millisecond, Year);
        var slide = c.Duration("windows.slide", Millisecond, Year);
        if (size.Ticks % slide.Ticks != 0)
            throw new ConfigurationException($"{c.Name("windows.size")} must be a multiple of {c.Name("windows.slide")}; {SettingsReader.Format(size)} is not a multiple of {SettingsReader.Format(slide)}");
        var lateness = c.Duration("windows.allowed-lateness", TimeSpan.Zero, Year);
        var retention = c.Duration("store.retention", TimeSpan.FromMinutes(1), TimeSpan.FromDays(100 * 366));
        if (retention < lateness)
            throw new ConfigurationException($"{c.Name("store.retention")} must be at least {c.Name("windows.allowed-lateness")}, for a row may be revised until then; {SettingsReader.Format(retention)} is less than {SettingsReader.Format(lateness)}");

        var store = c.Choice("store.provider", "sqlite", "postgresql");
        var sqlite = new SqliteSettings(c.Int("store.sqlite.cache-mib", 1, 65_536), c.Int("store.sqlite.checkpoint-pages", 100, 10_000_000));
        var kafka = c.Bootstrap("kafka.bootstrap-servers");
        var results = c.Text("kafka.results-topic").Trim();

        return new CollectorSettings
        {
            KafkaBootstrap = kafka,
            Topic = c.Topic("kafka.topic"),
            TooLateTopic = c.Topic("kafka.too-late-topic"),
            DeadLetterTopic = c.Topic("kafka.dead-letter-topic"),
            ResultsTopic = results.Length == 0 ? null : c.Topic("kafka.results-topic"),
            GroupId = c.NonEmpty("kafka.group-id"),
            Partitions = c.Int("kafka.partitions", 1, 10_000),
            PartitionBuffer = c.Int("kafka.partition-buffer", 10, 1_000_000),
            KafkaSessionTimeout = SessionTimeoutOf(c),
            ConsumerBatchSize = c.Int("kafka.consumer-batch-size", 1, 100_000),
            ConsumerRestartDelay = c.Duration("kafka.consumer-restart-delay", TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(10)),
            MetadataRefresh = c.Duration("kafka.metadata-refresh", TimeSpan.FromSeconds(1), TimeSpan.FromHours(1)),
            KafkaClientProperties = Configuration.KafkaClientProperties.Read(c, environment),
            Windows = new WindowSettings(
                new WindowSpec((long)size.TotalMilliseconds, (long)slide.TotalMilliseconds),
                (long)lateness.TotalMilliseconds,
                c.Double("windows.compression", Core.Digests.TDigest.MinCompression, Core.Digests.TDigest.MaxCompression)),
            MaxOutOfOrderness = c.Duration("windows.max-out-of-orderness", TimeSpan.Zero, Year),
            IdleTimeout = c.Duration("windows.idle-timeout", Millisecond, Year),
            MaxFutureSkew = c.Duration("windows.max-future-skew", TimeSpan.Zero, Year),
            Partition = new PartitionSettings(
                c.Int("partitions.in-flight-limit", 1, 90_000),
                c.Duration("partitions.device-resend-after", TimeSpan.FromSeconds(1), TimeSpan.FromHours(1)),
                c.Duration("partitions.commit-interval", TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(1)),
                c.Duration("partitions.commit-stall-warning", TimeSpan.FromSeconds(1), TimeSpan.FromDays(1)),
                c.Duration("partitions.revoked-flush-timeout", TimeSpan.Zero, TimeSpan.FromMinutes(1)),
                c.Duration("partitions.read-again-max-delay", TimeSpan.FromSeconds(1), TimeSpan.FromHours(1)),
                new Partitions.SideOutputSettings
                {
                    MaxRecordBytes = c.Int("partitions.side-record-max-bytes", 4_096, 1_000_000_000),
                    MaxPendingBytes = c.Int("partitions.side-pending-bytes", 1_000_000, int.MaxValue),
                    FirstRetry = c.Duration("partitions.side-retry-first", TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(10)),
                    MaxRetry = c.Duration("partitions.side-retry-max", TimeSpan.FromMilliseconds(10), TimeSpan.FromHours(1)),
                }),
            StoreProvider = store,
            StoreConnection = StoreConnectionOf(c, store),
            Retention = retention,
            StoreFillFactor = c.Int("store.fill-factor", 10, 100),
            StoreSqlite = sqlite,
            ResultWriter = new ResultWriterSettings(
                c.Int("result-writer.batch-rows", 1, 1_000_000),
                c.Duration("result-writer.flush-delay", Millisecond, TimeSpan.FromSeconds(10)),
                c.Int("result-writer.publish-slice", 1, 1000)),
            WriteBacklogRows = c.Int("result-writer.backlog-rows", 100, 10_000_000),
            SnapshotStore = new SnapshotStoreSettings(
                c.Int("snapshot-store.batch-size", 1, 10_000),
                c.Duration("snapshot-store.batch-delay", TimeSpan.Zero, TimeSpan.FromSeconds(1)),
                c.Duration("snapshot-store.operation-timeout", TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(10)),
                sqlite.CheckpointPages),
            HttpHost = c.Host("http.host"),
            HttpPort = c.Int("http.port", 0, 65_535),
            TopNTimeout = c.Duration("http.top-n-timeout", TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(1)),
            FleetCacheWindows = c.Int("http.fleet-cache-windows", 1, 10_000),
            CatchUpReportInterval = c.Duration("kafka.catch-up-report-interval", TimeSpan.FromSeconds(1), TimeSpan.FromHours(1)),
            CatchUpReportThreshold = c.Int("kafka.catch-up-report-threshold", 1, int.MaxValue),
            ResultsSweepInterval = c.Duration("kafka.results-sweep-interval", TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(10)),
            ResultsOwedGrace = c.Duration("kafka.results-owed-grace", TimeSpan.FromSeconds(1), TimeSpan.FromHours(1)),
            ClusterHost = c.Host("cluster.host"),
            ClusterPort = c.Int("cluster.port", 0, 65_535),
            SeedNodes = SeedNodesOf(c),
            DownOnRefusedConnection = c.Switch("cluster.down-on-refused-connection", auto: null),
            SnapshotAfterEvents = c.Int("devices.snapshot-after-events", 1, int.MaxValue),
            SnapshotInterval = c.Duration("devices.snapshot-interval", TimeSpan.FromMilliseconds(10), TimeSpan.FromDays(1)),
            PassivateAfter = c.Duration("devices.passivate-after", TimeSpan.FromSeconds(1), TimeSpan.FromDays(1)),
            SnapshotTimeout = c.Duration("devices.snapshot-timeout", TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1)),
            GeneratorEnabled = c.Switch("generator.enabled", auto: kafka.Length == 0),
            Generator = GeneratorSettings.FromConfig(c),
            LogLevel = c.Choice("log-level", "debug", "info", "warning", "error") switch
            {
                "debug" => LogLevel.Debug,
                "info" => LogLevel.Information,
                "warning" => LogLevel.Warning,
                _ => LogLevel.Error,
            },
        };
    }

    private static string[] SeedNodesOf(SettingsReader c)
    {
        const string path = "cluster.seed-nodes";
        var value = c.Section.GetValue(path);
        if (value is not null && !SettingsReader.IsList(value))
            throw new ConfigurationException($"{c.Name(path)} must be a list of \"host:port\" entries");
        var seeds = value is null ? [] : value.GetArray().Select(v => v.GetString()?.Trim() ?? "").ToArray();
        foreach (var seed in seeds)
            if (!SettingsReader.IsHostPort(seed))
                throw new ConfigurationException($"{c.Name(path)}: '{seed}' is not host:port");
        return seeds;
    }

    private static TimeSpan? SessionTimeoutOf(SettingsReader c)
    {
        const string path = "kafka.session-timeout";
        if (c.Text(path).Trim().Equals("auto", StringComparison.OrdinalIgnoreCase)) return null;
        // librdkafka's own bounds; a broker may refuse less (group.min.session.timeout.ms, 6 s by default).
        return c.Duration(path, TimeSpan.FromSeconds(1), TimeSpan.FromHours(1));
    }

    /// <summary>The connection string, checked by its own driver; the value is not repeated, for it may hold a password.</summary>
    private static string StoreConnectionOf(SettingsReader c, string provider)
    {
        const string path = "store.connection-string";
        var text = c.NonEmpty(path);
        try
        {
            _ = provider == "postgresql"
                ? new Npgsql.NpgsqlConnectionStringBuilder(text).ConnectionString
                : new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(text).ConnectionString;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException)
        {
            throw new ConfigurationException($"{c.Name(path)}: not a {provider} connection string ({HoconText.OneLine(e.Message)})");
        }
        return text;
    }

    private static string UrlHost(string host) =>
        IPAddress.TryParse(host, out var address) && address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]" : host;
}
