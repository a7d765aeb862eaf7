using System.Net.Http.Json;
using System.Text.Json;
using MetricsCollector.Kafka;

namespace MetricsCollector.Tests.Support;

/// <summary>
/// One node with its own embedded broker, a SQLite store and the generator on (40 devices at 200 events/s,
/// small windows), serving rows within seconds: what the load runs and the live page are pointed at. Shared
/// by the tests of <see cref="LiveNodeCollection"/>, which run one after another.
/// </summary>
public sealed class LiveNode : IAsyncLifetime
{
    private const string Hocon = NodeEnvironment.TestHocon + """

        metrics-collector.generator { devices = 40, rate = 200, out-of-order = 0, late = 0, too-late = 0, invalid = 0 }
        """;

    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();
    private readonly string _dir = Directory.CreateTempSubdirectory("mc-live-").FullName;
    private TestNode? _node;

    public TestNode Node => _node ?? throw new InvalidOperationException("not started");

    public string Bootstrap => _kafka.BootstrapServers;

    public Uri Url => Node.Http.BaseAddress!;

    public async Task InitializeAsync()
    {
        ProductTopics.Create(_kafka);
        _node = await TestNode.StartAsync(
            _kafka.BootstrapServers, "sqlite", $"Data Source={Path.Combine(_dir, "metrics.db")}", _dir,
            new Dictionary<string, string> { ["MC_GENERATOR"] = "on" }, Hocon);
        // The generator backfills a window and a bound of history first, so a full top-10 comes within seconds.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            // 503 until the node is ready.
            using var answer = await Node.Http.GetAsync("/metrics/top/10");
            if (answer.IsSuccessStatusCode && (await answer.Content.ReadFromJsonAsync<JsonElement>()).GetArrayLength() >= 10) break;
            Assert.True(DateTime.UtcNow < deadline, "the node served no full top-10 within 60 s");
            await Task.Delay(250);
        }
    }

    public async Task DisposeAsync()
    {
        if (_node is not null) await _node.DisposeAsync();
        _kafka.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}

[CollectionDefinition(Name)]
public sealed class LiveNodeCollection : ICollectionFixture<LiveNode>
{
    public const string Name = "live node";
}
