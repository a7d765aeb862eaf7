using System.Diagnostics;
using MetricsCollector.Tests.Support;

namespace MetricsCollector.Tests.Observability;

/// <summary>The Prometheus configuration the compose stack mounts, checked by Prometheus's own promtool.</summary>
public sealed class DeployConfigurationTests
{
    [Theory]
    [InlineData("config", "prometheus.yml")]
    [InlineData("rules", "alerts.yml")]
    public async Task Promtool_accepts_the_deployed_prometheus_files(string check, string file)
    {
        var info = new ProcessStartInfo("promtool") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add("check");
        info.ArgumentList.Add(check);
        info.ArgumentList.Add(Path.Combine(Repository.Root, "deploy", "prometheus", file));
        using var promtool = Process.Start(info) ?? throw new InvalidOperationException("promtool did not start");
        var output = promtool.StandardOutput.ReadToEndAsync();
        var errors = promtool.StandardError.ReadToEndAsync();
        await promtool.WaitForExitAsync();

        Assert.True(promtool.ExitCode == 0, $"promtool check {check} {file}: {await output}{await errors}");
    }
}
