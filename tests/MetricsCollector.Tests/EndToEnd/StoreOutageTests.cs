using MetricsCollector.Kafka;
using MetricsCollector.Observability;
using MetricsCollector.ReadSide;
using MetricsCollector.Tests.Support;
using MetricsCollector.Tests.Support.Processes;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using static MetricsCollector.Tests.EndToEnd.PipelineEndToEndTests;

namespace MetricsCollector.Tests.EndToEnd;

/// <summary>
/// A PostgreSQL outage under a steady stream, on a node of its own with its own server: what the node
/// holds while the store is gone stays within its bound (the result writer's backlog pushes back on
/// intake), and once the store is back everything resumes by itself and equals the exact oracle.
/// </summary>
public sealed class StoreOutageTests(ITestOutputHelper output) : IAsyncLifetime, IDisposable
{
    private const int BacklogLimit = 300;
    private const int InFlightLimit = 10;
    private const int Devices = 1_000;
    // The allowance past the limit below counts what batches already taken set going (each record may
    // revise a row), so it holds for batches of this size: the node's default is larger, and a limit this
    // small (300) would be passed by a whole batch a partition.
    private const int BatchSize = 500;

    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();
    private readonly LocalPostgres _postgres = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("mc-outage-").FullName;

    public async Task InitializeAsync()
    {
        ProductTopics.Create(_kafka);
        await _postgres.StartAsync();
    }

    public Task DisposeAsync() => Task.CompletedTask;

    public void Dispose()
    {
        _kafka.Dispose();
        _postgres.Dispose();
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task While_the_store_is_down_the_node_holds_a_bounded_backlog_and_afterwards_the_result_equals_the_oracle()
    {
        // Many devices, so that windows fire by the thousand while the store is gone.
        var producing = TestDataset.ProduceAsync(_kafka.BootstrapServers, ProductTopics.Input, seed: 51, Devices, events: 50_000, Slide, Bound, Lateness, perSecond: 2_500);
        await using var node = await TestNode.StartAsync(_kafka.BootstrapServers, "postgresql", _postgres.ConnectionString, _dir,
            hocon: NodeEnvironment.TestHocon + $$"""

                metrics-collector.result-writer.backlog-rows = {{BacklogLimit}}
                metrics-collector.partitions.in-flight-limit = {{InFlightLimit}}
                metrics-collector.kafka.consumer-batch-size = {{BatchSize}}
                """);
        var backlog = node.Services.GetRequiredService<WriteBacklog>();
        await WaitUntilAsync(async () => (await node.Store.RecentWindowEndsAsync(1)).Count > 0, TimeSpan.FromSeconds(60));

        await _postgres.StopAsync();
        var (most, afterSeven) = (0, 0);
        var down = DateTime.UtcNow;
        while (DateTime.UtcNow - down < TimeSpan.FromSeconds(20))
        {
            most = Math.Max(most, backlog.Rows);
            if (DateTime.UtcNow - down < TimeSpan.FromSeconds(7)) afterSeven = most;
            await Task.Delay(50);
        }
        var taken = node.Services.GetRequiredService<CollectorMetrics>().RecordsIn;
        output.WriteLine($"rows held by the writer while the store was down: {afterSeven} after 7 s, {most} at most in 20 s (limit {BacklogLimit}); managed heap {GC.GetTotalMemory(false) / 1_000_000} MB");
        // Past the limit only by what the last batches set going before intake stopped: their records, and
        // the wake-ups of the devices whose windows their watermark passed, each firing and closing at most a
        // window per pane (2 × 6 rows). Above all, no longer growing.
        Assert.InRange(most, 1, BacklogLimit + Devices * 12);
        Assert.True(most - afterSeven < 300, $"the backlog kept growing: {afterSeven} after 7 s, {most} after 20 s");

        await _postgres.StartAsync();
        var produced = await producing;
        Assert.True(taken < produced, $"the node had taken all {produced} records by the end of the outage; the test would not test intake held back");
        var oracle = KafkaOracle.Read(_kafka.BootstrapServers, ProductTopics.Input, Size, Slide, Lateness, Bound);
        await WaitForAllFinalAsync(node, oracle.Windows, TimeSpan.FromSeconds(180));
        await AssertRowsMatchAsync(node.Http, oracle.Windows);
        // Every device snapshots what it took during the outage within its interval (half a second here),
        // quiet or not, so the commits reach the end soon after: not when idle devices are passivated.
        var metrics = node.Services.GetRequiredService<CollectorMetrics>();
        await WaitUntilAsync(() => Task.FromResult(metrics.RecordsBehind() == 0), TimeSpan.FromSeconds(20));
    }
}
