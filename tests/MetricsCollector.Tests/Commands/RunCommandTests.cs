using MetricsCollector.Tests.Cluster;
using MetricsCollector.Tests.Support.Processes;

namespace MetricsCollector.Tests.Commands;

/// <summary>
/// What a person sees on the console of `metrics-collector run`: the banner and what needs their
/// attention, not Akka's start-up chatter (unless asked for with -v), nor the singleton proxy's
/// warning that Akka 1.5.73 logs the moment the proxy starts looking.
/// </summary>
[Collection(ProcessClusterCollection.Name)]
public sealed class RunCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("mc-run-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Akka's own INFO entries at every start (the node's own INFO entries, few, do show).</summary>
    private static readonly string[] AkkasChatter = ["Starting remoting", "Cluster Node [akka.tcp://metrics-collector@", "Singleton manager started singleton actor"];

    [Fact]
    public async Task The_console_shows_the_banner_without_akkas_chatter()
    {
        var (exitCode, log) = await RunUntilBannerAndStopAsync([]);

        Assert.True(exitCode == 0, $"exit code {exitCode}:\n{log}");
        Assert.Contains("MetricsCollector is running in embedded mode.", log, StringComparison.Ordinal);
        var chatter = log.Split('\n').Where(l => l.StartsWith("[DEBUG]", StringComparison.Ordinal) || AkkasChatter.Any(c => l.Contains(c, StringComparison.Ordinal))
            || l.Contains("info: Microsoft.", StringComparison.Ordinal)).ToList();
        Assert.True(chatter.Count == 0, "Akka and the framework logged below WARNING:\n" + string.Join('\n', chatter));
        Assert.DoesNotContain("ClusterSingletonProxy failed to find", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verbose_brings_akkas_info_back()
    {
        var (exitCode, log) = await RunUntilBannerAndStopAsync(["-v"]);

        Assert.True(exitCode == 0, $"exit code {exitCode}:\n{log}");
        Assert.All(AkkasChatter, c => Assert.Contains(c, log, StringComparison.Ordinal));
        Assert.DoesNotContain("ClusterSingletonProxy failed to find", log, StringComparison.Ordinal);
    }

    /// <summary>Runs a node in embedded mode until it has printed its banner, then stops it as an orchestrator would.</summary>
    private async Task<(int ExitCode, string Log)> RunUntilBannerAndStopAsync(string[] options)
    {
        var logFile = Path.Combine(_dir, $"run-{Guid.NewGuid():N}.log");
        var environment = new Dictionary<string, string> { ["MC_GENERATOR"] = "off", ["MC_HTTP_PORT"] = "0", ["MC_CLUSTER_PORT"] = "0" };
        int exitCode;
        using (var node = ChildProcess.Start(["run", .. options], environment, _dir, logFile))
        {
            await node.WaitForLineAsync(l => l.Contains("Stop with Ctrl+C.", StringComparison.Ordinal), TimeSpan.FromSeconds(90));
            // Stopped once its partitions are assigned, by when the singleton proxy's spurious warning
            // (a tenth of a second after start) would have shown.
            await node.WaitForLineAsync(l => l.Contains("Assigned partitions", StringComparison.Ordinal), TimeSpan.FromSeconds(90));
            await node.TerminateAsync(TimeSpan.FromSeconds(60));
            exitCode = node.ExitCode;
        }
        return (exitCode, await File.ReadAllTextAsync(logFile));
    }
}
