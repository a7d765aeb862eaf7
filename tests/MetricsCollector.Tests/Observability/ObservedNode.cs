using MetricsCollector.Kafka;
using MetricsCollector.Observability;
using MetricsCollector.Tests.EndToEnd;
using MetricsCollector.Tests.ReadSide;
using MetricsCollector.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace MetricsCollector.Tests.Observability;

/// <summary>
/// One node on the embedded broker and a PostgreSQL database of its own (so that Npgsql's
/// metrics exist), fed a stream with invalid and too-late records, and waited on until rows are
/// stored, every partition has committed and the API has answered: every series the dashboard
/// and the alert rules read then exists.
/// </summary>
public sealed class ObservedNode : IAsyncLifetime
{
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();
    private readonly PostgresStoreFixture _database = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("mc-obs-").FullName;
    private TestNode? _node;

    public TestNode Node => _node ?? throw new InvalidOperationException("not started");

    public CollectorMetrics Metrics => Node.Services.GetRequiredService<CollectorMetrics>();

    public async Task InitializeAsync()
    {
        ProductTopics.Create(_kafka);
        await _database.InitializeAsync();
        await TestDataset.ProduceAsync(_kafka.BootstrapServers, ProductTopics.Input, seed: 3, devices: 20, events: 4_000,
            PipelineEndToEndTests.Slide, PipelineEndToEndTests.Bound, PipelineEndToEndTests.Lateness);
        _node = await TestNode.StartAsync(_kafka.BootstrapServers, "postgresql", _database.DatabaseConnectionString, _dir);
        await PipelineEndToEndTests.WaitUntilAsync(
            () => Task.FromResult(Metrics.RowsWritten > 0
                && Metrics.PartitionStatuses() is { Count: ProductTopics.DefaultPartitions } partitions
                && partitions.All(p => p.Lag is not null)),
            TimeSpan.FromSeconds(60));
        (await Node.Http.GetAsync(new Uri("/metrics/top/3", UriKind.Relative))).EnsureSuccessStatusCode();
    }

    public async Task DisposeAsync()
    {
        if (_node is not null) await _node.DisposeAsync();
        await _database.DisposeAsync();
        _kafka.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}

[CollectionDefinition(Name)]
public sealed class ObservedNodeCollection : ICollectionFixture<ObservedNode>
{
    public const string Name = "observed node";
}
