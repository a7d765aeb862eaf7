using MetricsCollector.Tests.Support.Processes;

namespace MetricsCollector.Tests.Configuration;

/// <summary>
/// A bad value stops the node at start with one line on stderr that names the variable or key,
/// exit code 2 and no stack trace: checked on the built executable, as an operator runs it.
/// </summary>
public sealed class ConfigurationErrorTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly string _dir = Directory.CreateTempSubdirectory("mc-config-errors-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Every variable that can be bad, each with a value it refuses.</summary>
    public static TheoryData<string, string> BadVariables => new()
    {
        { "MC_KAFKA_BOOTSTRAP", "kafka-1:ninety" },
        { "MC_TOPIC", "events with spaces" },
        { "MC_RESULTS_TOPIC", "results/topic" },
        { "MC_WINDOW_SIZE", "banana" },
        { "MC_WINDOW_SLIDE", "7m" },
        { "MC_MAX_OUT_OF_ORDERNESS", "5" },
        { "MC_ALLOWED_LATENESS", "-5m" },
        { "MC_IDLE_TIMEOUT", "0s" },
        { "MC_MAX_FUTURE_SKEW", "soon" },
        { "MC_STORE", "cassandra" },
        { "MC_STORE_CONNECTION", "Flavour=strawberry" },
        { "MC_RETENTION", "1m" },
        { "MC_HTTP_HOST", "not a host" },
        { "MC_HTTP_PORT", "70000" },
        { "MC_CLUSTER_HOST", "bad_host!" },
        { "MC_CLUSTER_PORT", "four" },
        { "MC_SEED_NODES", "127.0.0.1" },
        { "MC_GENERATOR", "maybe" },
        { "MC_LOG_LEVEL", "loud" },
        { "MC_KAFKA_PROP_SECURITY_PROTOCOL", "bogus" },
        { "MC_KAFKA_PROP_NO_SUCH_PROPERTY", "1" },
        { "MC_KAFKA_PROP_GROUP_ID", "another-group" },
        { "MC_KAFKA_PROP_SASL_MECHANISM", "PLAIN" },
    };

    /// <summary>A --config file and the key (or what else) the line must name.</summary>
    public static TheoryData<string, string> BadFiles => new()
    {
        { "metrics-collector { windows { size = 10m } }\nmetrics-collector.windows.slide = ", "metrics-collector.windows.slide" },
        { "metrics-collector { windows.size = 10m\n", "never closed" },
        { "metrics-collector.store.retention = ${undefined}", "--config" },
        { "metrics-collector.windows.sise = 1m", "metrics-collector.windows.sise" },
        { "kafka.topic = events", "'kafka'" },
        { "metrics-collector.windows = 5m", "metrics-collector.windows" },
        { "metrics-collector.kafka.partitions = [1, 2]", "metrics-collector.kafka.partitions" },
        { "metrics-collector.devices.snapshot-after-events = 0", "metrics-collector.devices.snapshot-after-events" },
        { "metrics-collector.partitions.in-flight-limit = lots", "metrics-collector.partitions.in-flight-limit" },
        { "metrics-collector.result-writer.flush-delay = 10", "metrics-collector.result-writer.flush-delay" },
        { "metrics-collector.snapshot-store.batch-size = 0", "metrics-collector.snapshot-store.batch-size" },
        { "metrics-collector.generator.late = 2", "metrics-collector.generator.late" },
        { "metrics-collector.kafka.client { \"no.such.property\" = 1 }", "metrics-collector.kafka.client.\"no.such.property\"" },
        { "akka.remote.dot-netty.tcp { enable-ssl = true, ssl.certificate { path = \"missing.pfx\", password = x } }", "akka.remote.dot-netty.tcp.ssl.certificate.path" },
        { "akka.loglevel = LOUD", "akka" },
        // Akka builds a dispatcher only for the first actor that asks: the node checks the data path's at start.
        { "akka.actor.pipeline-dispatcher.executor = no-such-executor", "akka.actor.pipeline-dispatcher" },
    };

    [Theory]
    [MemberData(nameof(BadVariables))]
    public async Task A_bad_variable_stops_the_node_with_one_line_that_names_it(string variable, string value)
    {
        var result = await RunAsync(["run"], new Dictionary<string, string> { [variable] = value });
        AssertOneLineNaming(variable, result);
    }

    [Theory]
    [MemberData(nameof(BadFiles))]
    public async Task A_bad_config_file_stops_the_node_with_one_line_that_names_the_key(string hocon, string named)
    {
        var file = Path.Combine(_dir, "bad.conf");
        await File.WriteAllTextAsync(file, hocon);
        var result = await RunAsync(["run", "--config", file], new Dictionary<string, string>());
        AssertOneLineNaming(named, result);
    }

    [Fact]
    public async Task A_missing_config_file_is_named()
    {
        var result = await RunAsync(["run", "--config", Path.Combine(_dir, "missing.conf")], new Dictionary<string, string>());
        AssertOneLineNaming("missing.conf", result);
    }

    [Theory]
    [InlineData("--rate", "load", "api", "--rate", "abc")]
    [InlineData("--rate", "load", "api", "--rate", "0")]
    [InlineData("--bogus", "run", "--bogus")]
    [InlineData("--count", "generate", "--count", "many")]
    [InlineData("--speed", "generate", "--bootstrap", "127.0.0.1:9", "--speed", "0")]
    [InlineData("--from", "reconcile", "--from", "yesterday", "--to", "2025-11-28T05:00:00Z")]
    [InlineData("--to", "reconcile", "--from", "2025-11-28T05:00:00Z", "--to", "2025-11-28T04:00:00Z")]
    [InlineData("--batch-size", "reconcile", "--from", "1", "--to", "2", "--batch-size", "0")]
    [InlineData("MC_KAFKA_BOOTSTRAP", "reconcile", "--from", "1", "--to", "2")]
    public async Task A_bad_command_line_is_one_line_naming_the_option_and_exit_code_2(string named, params string[] arguments)
    {
        var result = await RunAsync(arguments, new Dictionary<string, string>());
        AssertOneLineNaming(named, result);
    }

    [Fact]
    public async Task The_generator_command_checks_the_kafka_properties_it_passes_on()
    {
        var result = await RunAsync(
            ["generate", "--bootstrap", "127.0.0.1:9", "--count", "1"],
            new Dictionary<string, string> { ["MC_KAFKA_PROP_SECURITY_PROTOCOL"] = "bogus" });
        AssertOneLineNaming("MC_KAFKA_PROP_SECURITY_PROTOCOL", result);
    }

    /// <summary>
    /// Runs the executable with ports the kernel picks and the store under the test's folder, so
    /// that a value wrongly accepted starts a node that disturbs nothing (and the run times out).
    /// </summary>
    private Task<(int ExitCode, string Output, string Error)> RunAsync(string[] arguments, Dictionary<string, string> environment)
    {
        var all = new Dictionary<string, string> { ["MC_HTTP_PORT"] = "0", ["MC_CLUSTER_PORT"] = "0", ["MC_GENERATOR"] = "off" };
        foreach (var (key, value) in environment) all[key] = value;
        return ChildProcess.RunAsync(arguments, all, _dir, Timeout);
    }

    private static void AssertOneLineNaming(string named, (int ExitCode, string Output, string Error) result)
    {
        var lines = result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(result.ExitCode == 2 && lines.Length == 1 && lines[0].Contains(named, StringComparison.Ordinal) && !result.Error.Contains("   at ", StringComparison.Ordinal),
            $"expected exit code 2 and one line on stderr naming {named}; got exit code {result.ExitCode} and stderr:\n{result.Error}");
    }
}
