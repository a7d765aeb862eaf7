using System.Text.Json;

namespace MetricsCollector.Tests.Hosting;

/// <summary>
/// The runtime settings the node's executable is built with (its runtimeconfig.json, copied beside the tests
/// as the referenced executable's): the ones docs/benchmarks.md measured and the project file explains.
/// </summary>
public sealed class RuntimeConfigurationTests
{
    private static JsonElement ConfigProperties()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "metrics-collector.runtimeconfig.json");
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        return document.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties").Clone();
    }

    [Theory]
    [InlineData("System.GC.Server", "true")]
    [InlineData("System.GC.DynamicAdaptationMode", "0")]
    [InlineData("System.Runtime.TieredPGO", "false")]
    [InlineData("System.Threading.ThreadPool.UnfairSemaphoreSpinLimit", "0")]
    [InlineData("System.Runtime.TieredCompilation.CallCountingDelayMs", "0")]
    public void The_node_runs_with_the_measured_runtime_settings(string property, string expected)
    {
        Assert.True(ConfigProperties().TryGetProperty(property, out var value), $"{property} is not set");
        Assert.Equal(expected, value.GetRawText());
    }
}
