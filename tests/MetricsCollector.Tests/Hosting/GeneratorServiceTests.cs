using MetricsCollector.Configuration;
using MetricsCollector.Hosting;
using MetricsCollector.Kafka;
using Microsoft.Extensions.Logging.Abstractions;

namespace MetricsCollector.Tests.Hosting;

/// <summary>
/// The embedded generator of a node makes its producer with the pass-through librdkafka properties:
/// one that every client refuses at construction shows that they got there, the error names it.
/// </summary>
public sealed class GeneratorServiceTests : IDisposable
{
    private readonly EmbeddedKafka _broker = EmbeddedKafka.Start();

    public void Dispose() => _broker.Dispose();

    [Fact]
    public async Task The_embedded_generator_of_a_node_gets_the_properties()
    {
        var settings = CollectorSettings.Load(null, new Dictionary<string, string>()) with
        {
            KafkaClientProperties = new Dictionary<string, string> { ["security.protocol"] = "bogus" },
        };
        using var service = new GeneratorService(_broker.BootstrapServers, settings, NullLogger<GeneratorService>.Instance);
        await service.StartAsync(CancellationToken.None);
        var e = await Assert.ThrowsAsync<ArgumentException>(() => service.ExecuteTask!);
        Assert.Contains("security.protocol", e.Message, StringComparison.Ordinal);
    }
}
