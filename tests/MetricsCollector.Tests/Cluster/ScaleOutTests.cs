using MetricsCollector.Kafka;
using MetricsCollector.Observability;
using MetricsCollector.Tests.EndToEnd;
using MetricsCollector.Tests.ReadSide;
using MetricsCollector.Tests.Support;
using MetricsCollector.Tests.Support.Processes;
using Microsoft.Extensions.DependencyInjection;

namespace MetricsCollector.Tests.Cluster;

/// <summary>
/// Two nodes in one cluster on the same broker and PostgreSQL store: a node joining or leaving
/// mid-stream takes or hands over a share of the partitions (and, through partition-aligned
/// sharding, of the devices), and the rows still equal the exact oracle on every node, also when
/// unkeyed producers put every device on partitions of both nodes.
/// </summary>
public sealed class ScaleOutTests : IAsyncLifetime
{
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();
    private readonly PostgresStoreFixture _database = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("mc-cluster-").FullName;

    public async Task InitializeAsync()
    {
        _kafka.SetGroupInitialRebalanceDelay(TimeSpan.Zero);
        ProductTopics.Create(_kafka);
        await _database.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await _database.DisposeAsync();
        _kafka.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task A_node_started_mid_stream_takes_partitions_and_the_result_still_equals_the_oracle()
    {
        var seedPort = NodeProcess.FreePort();
        var producing = TestDataset.ProduceAsync(_kafka.BootstrapServers, ProductTopics.Input, seed: 31, 30, events: 75_000,
            PipelineEndToEndTests.Slide, PipelineEndToEndTests.Bound, PipelineEndToEndTests.Lateness, perSecond: 3_000);

        await using var first = await StartAsync(seedPort, seedPort);
        await Task.Delay(TimeSpan.FromSeconds(3));
        await using var second = await StartAsync(NodeProcess.FreePort(), seedPort);
        await PipelineEndToEndTests.WaitUntilAsync(
            () => Task.FromResult(second.Services.GetRequiredService<CollectorMetrics>().RecordsIn > 0),
            TimeSpan.FromSeconds(60));
        Assert.False(producing.IsCompleted, "the stream ended before the second node took part");
        await producing;

        await AssertEveryNodeServesTheOracleAsync([first, second]);
    }

    [Fact]
    public async Task A_node_leaving_mid_stream_hands_its_partitions_over_and_the_result_still_equals_the_oracle()
    {
        var seedPort = NodeProcess.FreePort();
        await using var first = await StartAsync(seedPort, seedPort);
        var second = await StartAsync(NodeProcess.FreePort(), seedPort);
        var producing = TestDataset.ProduceAsync(_kafka.BootstrapServers, ProductTopics.Input, seed: 32, 30, events: 75_000,
            PipelineEndToEndTests.Slide, PipelineEndToEndTests.Bound, PipelineEndToEndTests.Lateness, perSecond: 3_000);
        await PipelineEndToEndTests.WaitUntilAsync(
            () => Task.FromResult(second.Services.GetRequiredService<CollectorMetrics>().RecordsIn > 0),
            TimeSpan.FromSeconds(60));

        // A graceful stop: the leaving node flushes and commits its partitions before the group hands them over.
        await second.DisposeAsync();
        Assert.False(producing.IsCompleted, "the stream ended before the node left");
        await producing;

        await AssertEveryNodeServesTheOracleAsync([first]);
    }

    [Fact]
    public async Task Unkeyed_devices_consumed_by_both_nodes_get_rows_merged_from_the_parts_of_both()
    {
        // Every device's records on every partition, and the partitions split between two nodes: both nodes
        // write parts of the same windows into the same rows, concurrently.
        var seedPort = NodeProcess.FreePort();
        await using var first = await StartAsync(seedPort, seedPort);
        await using var second = await StartAsync(NodeProcess.FreePort(), seedPort);
        // No pause before producing: a partition idle for the idle timeout (5 s here) would move its
        // watermark to the wall clock, and these events start an hour ago.
        await PipelineEndToEndTests.WaitUntilAsync(
            async () => (await second.Http.GetAsync(new Uri("/health/ready", UriKind.Relative))).IsSuccessStatusCode, TimeSpan.FromSeconds(60));
        // 25 s of stream, as in the tests above: the second node's share can take a rebalance (the
        // mock broker waits 4 s in each), a hand-off and the shard check, and 15 s left little room on a slow machine.
        var producing = TestDataset.ProduceAsync(_kafka.BootstrapServers, ProductTopics.Input, seed: 33, 30, events: 75_000,
            PipelineEndToEndTests.Slide, PipelineEndToEndTests.Bound, PipelineEndToEndTests.Lateness, perSecond: 3_000,
            unkeyedOver: ProductTopics.DefaultPartitions);
        await PipelineEndToEndTests.WaitUntilAsync(
            () => Task.FromResult(new[] { first, second }.All(n => n.Services.GetRequiredService<CollectorMetrics>().RecordsIn > 0)),
            TimeSpan.FromSeconds(60));
        Assert.False(producing.IsCompleted, "the stream ended before both nodes took part");
        await producing;

        await AssertEveryNodeServesTheOracleAsync([first, second]);
    }

    /// <summary>Once every node serves every window final, each serves exactly the oracle's rows for the whole input topic.</summary>
    private async Task AssertEveryNodeServesTheOracleAsync(TestNode[] nodes)
    {
        var oracle = KafkaOracle.Read(_kafka.BootstrapServers, ProductTopics.Input,
            PipelineEndToEndTests.Size, PipelineEndToEndTests.Slide, PipelineEndToEndTests.Lateness, PipelineEndToEndTests.Bound);
        await PipelineEndToEndTests.WaitForAllFinalAsync(nodes[0], oracle.Windows, TimeSpan.FromSeconds(120));
        foreach (var node in nodes) await PipelineEndToEndTests.AssertRowsMatchAsync(node.Http, oracle.Windows);
    }

    private Task<TestNode> StartAsync(int port, int seedPort) =>
        TestNode.StartAsync(_kafka.BootstrapServers, "postgresql", _database.DatabaseConnectionString, _dir, new Dictionary<string, string>
        {
            ["MC_CLUSTER_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["MC_SEED_NODES"] = $"127.0.0.1:{seedPort}",
        });
}
