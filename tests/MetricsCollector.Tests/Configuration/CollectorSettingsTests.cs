using Akka.Configuration;
using MetricsCollector.Configuration;
using MetricsCollector.Partitions;
using Microsoft.Extensions.Logging;
using Xunit;

namespace MetricsCollector.Tests.Configuration;

public sealed class CollectorSettingsTests
{
    [Fact]
    public void The_session_timeout_is_chosen_by_broker_unless_configured()
    {
        Assert.Null(Load(null).KafkaSessionTimeout);
        Assert.Equal(TimeSpan.FromSeconds(9), Load("metrics-collector.kafka.session-timeout = 9s").KafkaSessionTimeout);
    }

    [Theory]
    [InlineData("500ms")]
    [InlineData("2h")]
    [InlineData("soon")]
    public void A_session_timeout_out_of_bounds_stops_the_node_with_its_name(string value)
    {
        var e = Assert.Throws<ConfigurationException>(() => Load($"metrics-collector.kafka.session-timeout = \"{value}\""));
        Assert.Contains("kafka.session-timeout", e.Message);
    }

    [Fact]
    public void Downing_on_refused_connections_is_on_unless_turned_off()
    {
        Assert.True(Load(null).DownOnRefusedConnection);
        Assert.False(Load("metrics-collector.cluster.down-on-refused-connection = off").DownOnRefusedConnection);
        var e = Assert.Throws<ConfigurationException>(() => Load("metrics-collector.cluster.down-on-refused-connection = auto"));
        Assert.Contains("cluster.down-on-refused-connection", e.Message);
    }

    [Fact]
    public void The_store_fill_factor_is_70_unless_configured_and_refused_outside_10_to_100()
    {
        Assert.Equal(70, Load(null).StoreFillFactor);
        Assert.Equal(100, Load("metrics-collector.store.fill-factor = 100").StoreFillFactor);
        foreach (var bad in new[] { "9", "101", "most" })
        {
            var e = Assert.Throws<ConfigurationException>(() => Load($"metrics-collector.store.fill-factor = {bad}"));
            Assert.Contains("store.fill-factor", e.Message);
        }
    }

    [Fact]
    public void SQLite_s_cache_and_checkpoint_are_settings_that_reach_the_snapshot_store()
    {
        Assert.Equal(SqliteSettings.Default, Load(null).StoreSqlite);
        var set = Load("metrics-collector.store.sqlite { cache-mib = 8, checkpoint-pages = 2000 }");
        Assert.Equal(new SqliteSettings(8, 2000), set.StoreSqlite);
        // The snapshot store is an Akka plugin, made from its section of Akka's configuration.
        var plugin = AkkaConfiguration.For(set).GetConfig("akka.persistence.snapshot-store.batching");
        Assert.Equal(2000, SnapshotStoreSettings.FromPluginConfig(plugin).SqliteCheckpointPages);
        foreach (var bad in new[] { "store.sqlite.cache-mib = 0", "store.sqlite.checkpoint-pages = 99", "store.sqlite.checkpoint-pages = many" })
        {
            var e = Assert.Throws<ConfigurationException>(() => Load($"metrics-collector.{bad}"));
            Assert.Contains(bad[..bad.IndexOf(' ', StringComparison.Ordinal)], e.Message);
        }
    }

    [Fact]
    public void A_bad_generator_switch_names_its_variable()
    {
        var e = Assert.Throws<ConfigurationException>(() => Load("metrics-collector.generator.enabled = maybe"));
        Assert.Contains("MC_GENERATOR", e.Message);
    }

    [Fact]
    public void New_settings_have_the_documented_defaults()
    {
        var settings = Load(null);
        Assert.Equal(TimeSpan.FromHours(1), settings.MaxFutureSkew);
        Assert.Equal(TimeSpan.FromDays(7), settings.Retention);
        Assert.Equal("iot.cpu.metrics.results", settings.ResultsTopic);
        Assert.Equal("0.0.0.0", settings.HttpHost);
        Assert.Empty(settings.KafkaClientProperties);
        Assert.Equal(LogLevel.Warning, settings.LogLevel);
        Assert.Equal(LogLevel.Information, settings.OwnLogLevel);
    }

    [Fact]
    public void Tuning_values_keep_the_defaults_they_had_as_constants_and_are_read_from_the_file()
    {
        Assert.Equal(
            (new PartitionSettings(4000, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30),
                new SideOutputSettings { MaxRecordBytes = 1_000_000, MaxPendingBytes = 16 << 20, FirstRetry = TimeSpan.FromMilliseconds(500), MaxRetry = TimeSpan.FromSeconds(30) }),
             new ResultWriterSettings(2000, TimeSpan.FromMilliseconds(10), 100), 2000, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(3), 5_000, TimeSpan.FromSeconds(10)),
            TuningOf(Load(null)));
        var configured = Load("""
            metrics-collector {
              partitions {
                in-flight-limit = 100, device-resend-after = 10s, commit-interval = 250ms, commit-stall-warning = 90s, revoked-flush-timeout = 5s, read-again-max-delay = 5s
                side-record-max-bytes = 100000, side-pending-bytes = 2000000, side-retry-first = 100ms, side-retry-max = 2s
              }
              result-writer { batch-rows = 50, flush-delay = 2ms, publish-slice = 10, backlog-rows = 500 }
              kafka { consumer-batch-size = 64, consumer-restart-delay = 1s, metadata-refresh = 3s }
              http.top-n-timeout = 1500ms
            }
            """);
        Assert.Equal(
            (new PartitionSettings(100, TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(90), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5),
                new SideOutputSettings { MaxRecordBytes = 100_000, MaxPendingBytes = 2_000_000, FirstRetry = TimeSpan.FromMilliseconds(100), MaxRetry = TimeSpan.FromSeconds(2) }),
             new ResultWriterSettings(50, TimeSpan.FromMilliseconds(2), 10), 64, TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(1500), 500, TimeSpan.FromSeconds(3)),
            TuningOf(configured));
    }

    [Fact]
    public void New_variables_win_over_the_file()
    {
        var settings = Load(
            "metrics-collector { windows.max-future-skew = 2h, store.retention = 30d, http.host = \"127.0.0.1\", log-level = error }",
            new()
            {
                ["MC_MAX_FUTURE_SKEW"] = "10m",
                ["MC_RETENTION"] = "2d",
                ["MC_RESULTS_TOPIC"] = "rows",
                ["MC_HTTP_HOST"] = "::1",
                ["MC_LOG_LEVEL"] = "debug",
            });
        Assert.Equal(TimeSpan.FromMinutes(10), settings.MaxFutureSkew);
        Assert.Equal(TimeSpan.FromDays(2), settings.Retention);
        Assert.Equal("rows", settings.ResultsTopic);
        Assert.Equal("http://[::1]:8080", settings.HttpBindUrl);
        Assert.Equal(LogLevel.Debug, settings.LogLevel);
        Assert.Equal(LogLevel.Debug, settings.OwnLogLevel);
    }

    [Fact]
    public void An_empty_results_topic_turns_the_results_topic_off()
    {
        Assert.Null(Load(null, new() { ["MC_RESULTS_TOPIC"] = "" }).ResultsTopic);
        Assert.Null(Load("metrics-collector.kafka.results-topic = \"\"").ResultsTopic);
    }

    [Fact]
    public void Other_empty_variables_count_as_not_set()
    {
        Assert.Equal("iot.device.events.dev", Load(null, new() { ["MC_TOPIC"] = "" }).Topic);
    }

    [Fact]
    public void The_api_is_shown_on_loopback_when_it_binds_every_address()
    {
        Assert.Equal("http://127.0.0.1:8080", Load(null).HttpLocalUrl);
        Assert.Equal("http://10.1.2.3:8080", Load(null, new() { ["MC_HTTP_HOST"] = "10.1.2.3" }).HttpLocalUrl);
    }

    [Fact]
    public void Kafka_client_properties_come_from_hocon_in_either_form_and_variables_win()
    {
        var settings = Load(
            """
            metrics-collector.kafka.client {
              "security.protocol" = SASL_PLAINTEXT
              sasl.mechanism = PLAIN
              "sasl.username" = from-file
              "client.id" = mc
            }
            """,
            new() { ["MC_KAFKA_PROP_SASL_USERNAME"] = "from-env", ["MC_KAFKA_PROP_SASL_PASSWORD"] = "secret" });
        Assert.Equal(
            new Dictionary<string, string>
            {
                ["security.protocol"] = "SASL_PLAINTEXT",
                ["sasl.mechanism"] = "PLAIN",
                ["sasl.username"] = "from-env",
                ["sasl.password"] = "secret",
                ["client.id"] = "mc",
            },
            settings.KafkaClientProperties);
    }

    [Fact]
    public void Kafka_properties_the_engine_sets_itself_are_refused_with_what_to_use_instead()
    {
        var e = Assert.Throws<ConfigurationException>(() => Load(null, new() { ["MC_KAFKA_PROP_BOOTSTRAP_SERVERS"] = "elsewhere:9092" }));
        Assert.Contains("MC_KAFKA_PROP_BOOTSTRAP_SERVERS", e.Message);
        Assert.Contains("MC_KAFKA_BOOTSTRAP", e.Message);
        e = Assert.Throws<ConfigurationException>(() => Load("metrics-collector.kafka.client { \"enable.auto.commit\" = true }"));
        Assert.Contains("metrics-collector.kafka.client.\"enable.auto.commit\"", e.Message);
    }

    [Fact]
    public void A_bad_value_names_the_variable_that_set_it_or_else_the_key()
    {
        var fromVariable = Assert.Throws<ConfigurationException>(() => Load("metrics-collector.windows.size = 10m", new() { ["MC_WINDOW_SIZE"] = "banana" }));
        Assert.StartsWith("MC_WINDOW_SIZE: 'banana'", fromVariable.Message, StringComparison.Ordinal);
        var fromFile = Assert.Throws<ConfigurationException>(() => Load("metrics-collector.windows.size = banana"));
        Assert.StartsWith("metrics-collector.windows.size (MC_WINDOW_SIZE): 'banana'", fromFile.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("metrics-collector.windows.sise = 1m", "metrics-collector.windows.sise")]
    [InlineData("metrics-collector { kafka { topic = a }\n windows = 5m }", "metrics-collector.windows")]
    [InlineData("metrics-collector.kafka.topic { name = a }", "metrics-collector.kafka.topic")]
    [InlineData("kafka.topic = events", "'kafka'")]
    public void Keys_that_are_not_settings_are_refused(string hocon, string named)
    {
        var e = Assert.Throws<ConfigurationException>(() => Load(hocon));
        Assert.Contains(named, e.Message);
    }

    [Theory]
    [InlineData("metrics-collector { windows { size = 10m }", "never closed")]
    [InlineData("metrics-collector.windows.size = 10m }", "closes nothing")]
    [InlineData("metrics-collector.kafka.topic = \"events", "not closed")]
    [InlineData("metrics-collector.windows.size = ", "has no value")]
    public void Broken_hocon_is_refused_though_akka_would_read_it(string hocon, string problem)
    {
        var e = Assert.Throws<ConfigurationException>(() => Load(hocon));
        Assert.Contains("not valid HOCON", e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("# nothing to change\n")]
    public void An_empty_config_file_changes_nothing(string hocon)
    {
        var settings = Load(hocon);
        Assert.Equal("iot.device.events.dev", settings.Topic);
        Assert.Equal(TimeSpan.FromMinutes(30).TotalMilliseconds, settings.Windows.Spec.Size);
        Assert.True(settings.AkkaOverrides.IsEmpty);
    }

    [Fact]
    public void Brackets_inside_strings_and_comments_do_not_count()
    {
        var settings = Load(""""
            # a comment with { and [
            metrics-collector {
              kafka.group-id = "group { ["   // another } comment
              store.connection-string = """Data Source=data/{odd}.db"""
            }
            """");
        Assert.Equal("group { [", settings.GroupId);
    }

    [Fact]
    public void The_akka_section_reaches_akka_over_the_defaults_and_the_values_from_settings()
    {
        var settings = Load(
            """
            akka {
              loglevel = DEBUG
              cluster.split-brain-resolver.stable-after = 9s
              remote.dot-netty.tcp.maximum-frame-size = 256000b
            }
            """);
        var akka = AkkaConfiguration.For(settings);
        Assert.Equal("DEBUG", akka.GetString("akka.loglevel"));
        Assert.Equal("warning", akka.GetString("metrics-collector.log-level"));
        Assert.Equal(TimeSpan.FromSeconds(9), akka.GetTimeSpan("akka.cluster.split-brain-resolver.stable-after"));
        Assert.Equal(256000L, akka.GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size"));
        // What the file leaves alone still comes from hocon/akka.conf and from the settings.
        Assert.Equal("keep-majority", akka.GetString("akka.cluster.split-brain-resolver.active-strategy"));
        Assert.Equal("sqlite", akka.GetString("akka.persistence.snapshot-store.batching.provider"));
        Assert.Equal("akka.tcp", AkkaConfiguration.Protocol(settings));
    }

    [Fact]
    public void Akka_publishes_the_nodes_own_level_and_prints_its_own_entries_from_the_log_level()
    {
        var quiet = AkkaConfiguration.For(Load(null));
        Assert.Equal("INFO", quiet.GetString("akka.loglevel"));
        Assert.Equal("warning", quiet.GetString("metrics-collector.log-level"));
        var errors = AkkaConfiguration.For(Load(null, new() { ["MC_LOG_LEVEL"] = "error" }));
        Assert.Equal("ERROR", errors.GetString("akka.loglevel"));
        Assert.Equal("error", errors.GetString("metrics-collector.log-level"));
        Assert.False(AkkaConfiguration.For(Load(null)).GetBoolean("akka.cluster.singleton-proxy.log-singleton-identification-failure"));
    }

    [Fact]
    public void Tls_remoting_changes_the_protocol_of_the_seed_nodes()
    {
        var certificate = Path.GetTempFileName();
        try
        {
            var settings = Load("""
                akka.remote.dot-netty.tcp { enable-ssl = true, ssl.certificate.use-thumbprint-over-file = true, ssl.certificate.thumbprint = "00" }
                """);
            Assert.Equal("akka.ssl.tcp", AkkaConfiguration.Protocol(settings));
            var e = Assert.Throws<ConfigurationException>(() => Load($$"""
                akka.remote.dot-netty.tcp { enable-ssl = true, ssl.certificate { path = "{{certificate}}", password = "x" } }
                """));
            Assert.Contains("akka.remote.dot-netty.tcp.ssl.certificate.path", e.Message);
        }
        finally
        {
            File.Delete(certificate);
        }
    }

    private static (PartitionSettings, ResultWriterSettings, int, TimeSpan, TimeSpan, int, TimeSpan) TuningOf(CollectorSettings settings) =>
        (settings.Partition, settings.ResultWriter, settings.ConsumerBatchSize, settings.ConsumerRestartDelay, settings.TopNTimeout, settings.WriteBacklogRows, settings.MetadataRefresh);

    private static CollectorSettings Load(string? hocon, Dictionary<string, string>? environment = null)
    {
        string? file = null;
        try
        {
            if (hocon is not null)
            {
                file = Path.GetTempFileName();
                File.WriteAllText(file, hocon);
            }
            return CollectorSettings.Load(file, environment ?? new Dictionary<string, string>());
        }
        finally
        {
            if (file is not null) File.Delete(file);
        }
    }
}
