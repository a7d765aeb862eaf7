using System.Text;
using System.Text.Json;
using MetricsCollector.Core.Windows;
using MetricsCollector.Kafka;
using MetricsCollector.ReadSide;
using MetricsCollector.Testing;
using MetricsCollector.Tests.Support;
using static MetricsCollector.Tests.EndToEnd.PipelineEndToEndTests;

namespace MetricsCollector.Tests.EndToEnd;

/// <summary>
/// The results topic on a node through the embedded broker and SQLite: unkeyed records, so rows merge parts of
/// several partitions and are final in the store before the API serves them final; the topic, reduced to the
/// highest revision per key, equals the stored rows. (The multi-process cluster test checks it across a kill -9.)
/// </summary>
public sealed class ResultsTopicEndToEndTests : BrokerTest
{
    [Fact]
    public async Task The_results_topic_reduced_to_the_highest_revision_per_key_equals_the_stored_rows()
    {
        await TestDataset.ProduceAsync(Kafka.BootstrapServers, ProductTopics.Input, seed: 71, devices: 30, events: 12_000, Slide, Bound, Lateness,
            unkeyedOver: ProductTopics.DefaultPartitions);
        var oracle = KafkaOracle.Read(Kafka.BootstrapServers, ProductTopics.Input, Size, Slide, Lateness, Bound).Windows;
        await using var node = await TestNode.StartAsync(Kafka.BootstrapServers, Path.Combine(Dir, "metrics.db"));
        // The node's store serves rows final only once no partition can change them: then every record is counted.
        await WaitForAllFinalAsync(node, oracle, TimeSpan.FromSeconds(90));

        await ResultsTopicCheck.AssertEqualsStoredRowsAsync(Kafka.BootstrapServers, node.Store, oracle, TimeSpan.FromSeconds(30));
    }

    /// <summary>
    /// What a node that died between its commit and its produce leaves behind: rows stored and owed. The next
    /// node produces them from the store; a row final in the store is not produced while the API would not
    /// serve it final (here never: no partition has stored a watermark).
    /// </summary>
    [Fact]
    public async Task Rows_a_dead_node_stored_but_never_produced_are_produced_by_the_next_node()
    {
        var file = Path.Combine(Dir, "metrics.db");
        var old = DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeMilliseconds() / Slide * Slide;
        var open = new WindowResult("dead-1", old - Size, old, 50, 90, 95, 99, 1, 100, 50, 10, 3, false, old + 1_000, PercentileBounds.Within(1, 100));
        var final = open with { DeviceId = "dead-2", Final = true };
        await using (var store = new SqliteResultStore($"Data Source={file}") { KeepsResultsOutbox = true })
        {
            await store.EnsureSchemaAsync();
            await store.UpsertAsync(SinglePart.Of([open, final]));
        }

        await using var node = await TestNode.StartAsync(Kafka.BootstrapServers, file);
        await WaitUntilAsync(() => Task.FromResult(KafkaOracle.ReadAll(Kafka.BootstrapServers, ProductTopics.Results).Count > 0), TimeSpan.FromSeconds(30));
        await Task.Delay(TimeSpan.FromSeconds(5));

        var records = KafkaOracle.ReadAll(Kafka.BootstrapServers, ProductTopics.Results);
        var record = Assert.Single(records);
        Assert.Equal(ResultsTopicActor.KeyOf(open), Encoding.UTF8.GetString(record.Message.Key));
        var row = JsonDocument.Parse(record.Message.Value).RootElement;
        Assert.Equal(("dead-1", 3, false), (row.GetProperty("deviceId").GetString(), row.GetProperty("revision").GetInt32(), row.GetProperty("final").GetBoolean()));
        Assert.Equal([final], await node.Store.OwedResultsAsync(long.MaxValue, long.MaxValue, 10));
    }
}
