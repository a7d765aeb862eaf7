using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using MetricsCollector.Kafka;
using MetricsCollector.Observability;
using MetricsCollector.Partitions;
using MetricsCollector.Testing;
using MetricsCollector.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using static MetricsCollector.Tests.EndToEnd.PipelineEndToEndTests;

namespace MetricsCollector.Tests.EndToEnd;

/// <summary>
/// Input that real fleets and real topics produce, through the real Kafka protocol (embedded broker), a
/// real SQLite store and real HTTP: a device with a wrong clock, a record over a megabyte, records without
/// a value, a topic with fewer partitions than configured, a topic deleted and created again (with one
/// partition more) under a running node. None of them may stop a partition or lose a record.
/// </summary>
public sealed class HostileInputTests : IAsyncLifetime
{
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();
    private readonly string _dir = Directory.CreateTempSubdirectory("mc-hostile-").FullName;

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _kafka.Dispose();
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }

    private Task<TestNode> StartNodeAsync() =>
        TestNode.StartAsync(_kafka.BootstrapServers, "sqlite", $"Data Source={Path.Combine(_dir, "metrics.db")}", _dir);

    private KafkaOracle Oracle(string topic = ProductTopics.Input) =>
        KafkaOracle.Read(_kafka.BootstrapServers, topic, Size, Slide, Lateness, Bound);

    private IProducer<byte[], byte[]?> Producer(int maxMessageBytes = 1_000_000) =>
        new ProducerBuilder<byte[], byte[]?>(new ProducerConfig { BootstrapServers = _kafka.BootstrapServers, MessageMaxBytes = maxMessageBytes, LingerMs = 5 }).Build();

    private static Message<byte[], byte[]?> Event(string device, long time, double cpu) => new()
    {
        Key = Encoding.UTF8.GetBytes(device),
        Value = Encoding.UTF8.GetBytes($$"""{"deviceId":"{{device}}","timestamp":{{time}},"cpuUsage":{{cpu.ToString(CultureInfo.InvariantCulture)}}}"""),
    };

    /// <summary>In-order events of <paramref name="devices"/> devices, <paramref name="stepMs"/> apart, device i on partition i mod <paramref name="partitions"/>.</summary>
    private static async Task ProduceInOrderAsync(IProducer<byte[], byte[]?> producer, string prefix, int devices, int partitions, int events, long start, long stepMs = 1_000)
    {
        for (var i = 0; i < events; i++)
        {
            var device = i % devices;
            await producer.ProduceAsync(new TopicPartition(ProductTopics.Input, device % partitions), Event($"{prefix}-{device}", start + i * stepMs, i % 101));
        }
    }

    private static async Task<PartitionProgress?> CheckpointAsync(TestNode node, int partition) =>
        await node.Store.LoadProgressAsync(PartitionProgress.KeyOf(node.Settings.GroupId, ProductTopics.Input, partition)) is { } text
            ? PartitionProgress.Decode(text)
            : null;

    [Fact]
    public async Task A_far_future_record_is_dead_lettered_and_the_thousand_records_after_it_on_its_partition_are_all_counted()
    {
        ProductTopics.Create(_kafka);
        var start = DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeMilliseconds();
        using (var producer = Producer())
        {
            await producer.ProduceAsync(new TopicPartition(ProductTopics.Input, 0), Event("liar", 253_402_300_799_999, 50));
            await ProduceInOrderAsync(producer, "honest", devices: 5, partitions: 1, events: 1_000, start);
        }
        var oracle = Oracle();
        Assert.Equal([(0, 0L, "timestamp-in-future")], oracle.DeadLetters);
        Assert.Equal(1_000 * (Size / Slide), oracle.Windows.Windows.Values.Sum(w => w.Count));

        await using var node = await StartNodeAsync();
        await WaitForAllFinalAsync(node, oracle.Windows, TimeSpan.FromSeconds(90));
        await AssertRowsMatchAsync(node.Http, oracle.Windows);
        AssertSideTopics(_kafka.BootstrapServers, oracle);
        Assert.Equal(0, node.Services.GetRequiredService<CollectorMetrics>().TooLate);
    }

    [Fact]
    public async Task A_record_over_a_megabyte_reaches_the_dead_letter_topic_cut_and_the_commit_passes_it_within_seconds()
    {
        ProductTopics.Create(_kafka);
        var huge = Encoding.UTF8.GetBytes(new string('x', 1_100_000));
        using (var producer = Producer(maxMessageBytes: 2_000_000))
        {
            await producer.ProduceAsync(new TopicPartition(ProductTopics.Input, 0), new Message<byte[], byte[]?> { Key = [1], Value = huge });
            await ProduceInOrderAsync(producer, "after", devices: 3, partitions: 1, events: 300, DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeMilliseconds());
        }
        var oracle = Oracle();

        await using var node = await StartNodeAsync();
        var started = DateTime.UtcNow;
        await WaitUntilAsync(async () => await CheckpointAsync(node, 0) is { Offset: > 0 }, TimeSpan.FromSeconds(60));
        var passedAfter = DateTime.UtcNow - started;
        Assert.True(passedAfter < TimeSpan.FromSeconds(30), $"the commit passed the huge record only after {passedAfter}");

        await WaitForAllFinalAsync(node, oracle.Windows, TimeSpan.FromSeconds(90));
        await AssertRowsMatchAsync(node.Http, oracle.Windows);
        AssertSideTopics(_kafka.BootstrapServers, oracle);
        var dead = Assert.Single(KafkaOracle.ReadAll(_kafka.BootstrapServers, ProductTopics.DeadLetter));
        Assert.Equal(("too-large", "true", "1100000"), (KafkaOracle.Header(dead, "reason"), KafkaOracle.Header(dead, "truncated"), KafkaOracle.Header(dead, "original-size")));
        Assert.InRange(dead.Message.Value.Length, 1, 1_000_000);
        Assert.Equal(huge[..dead.Message.Value.Length], dead.Message.Value);
    }

    [Fact]
    public async Task Records_without_a_value_are_dead_lettered_as_empty()
    {
        ProductTopics.Create(_kafka);
        using (var producer = Producer())
        {
            await producer.ProduceAsync(new TopicPartition(ProductTopics.Input, 1), new Message<byte[], byte[]?> { Key = [1], Value = null });
            await producer.ProduceAsync(new TopicPartition(ProductTopics.Input, 1), new Message<byte[], byte[]?> { Key = [2], Value = [] });
            await ProduceInOrderAsync(producer, "after", devices: 2, partitions: 1, events: 100, DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeMilliseconds());
        }
        var oracle = Oracle();
        Assert.Equal(2, oracle.DeadLetters.Count(d => d.Reason == "empty"));

        await using var node = await StartNodeAsync();
        await WaitForAllFinalAsync(node, oracle.Windows, TimeSpan.FromSeconds(90));
        AssertSideTopics(_kafka.BootstrapServers, oracle);
    }

    [Fact]
    public async Task A_topic_with_three_partitions_has_its_top_n_served()
    {
        ProductTopics.Create(_kafka, partitions: 3);
        await TestDataset.ProduceAsync(_kafka.BootstrapServers, ProductTopics.Input, seed: 41, devices: 20, events: 4_000, Slide, Bound, Lateness);
        var oracle = Oracle();

        await using var node = await StartNodeAsync();
        await WaitForAllFinalAsync(node, oracle.Windows, TimeSpan.FromSeconds(90));
        var latest = oracle.Windows.Windows.Keys.Max(k => k.Item2);
        await WaitUntilAsync(async () => (await TopAsync(node)).Length > 0, TimeSpan.FromSeconds(30));
        var top = await TopAsync(node);
        Assert.All(top, row => Assert.Equal(latest, ParseTime(row.GetProperty("windowEnd").GetString()!)));
        var expected = (await node.Store.TopAsync(latest, Core.Windows.RankBy.P95, 10)).Select(r => r.DeviceId);
        Assert.Equal(expected, top.Select(r => r.GetProperty("deviceId").GetString()));
    }

    [Fact]
    public async Task A_topic_deleted_and_created_again_with_a_partition_more_is_read_afresh_under_a_running_node()
    {
        // Small windows, so that the new log's windows close soon after its events, which are of now.
        const long size = 20_000, slide = 5_000, bound = 2_000, lateness = 2_000;
        ProductTopics.Create(_kafka, partitions: 3);
        using (var producer = Producer())
            await ProduceInOrderAsync(producer, "old", devices: 12, partitions: 3, events: 1_500, DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeMilliseconds());
        var old = KafkaOracle.Read(_kafka.BootstrapServers, ProductTopics.Input, size, slide, lateness, bound);

        await using var node = await TestNode.StartAsync(_kafka.BootstrapServers, "sqlite", $"Data Source={Path.Combine(_dir, "metrics.db")}", _dir,
            new Dictionary<string, string> { ["MC_WINDOW_SIZE"] = "20s", ["MC_WINDOW_SLIDE"] = "5s", ["MC_MAX_OUT_OF_ORDERNESS"] = "2s", ["MC_ALLOWED_LATENESS"] = "2s" });
        await WaitForAllFinalAsync(node, old.Windows, TimeSpan.FromSeconds(90));
        await WaitUntilAsync(async () =>
        {
            for (var partition = 0; partition < 3; partition++)
                if (await CheckpointAsync(node, partition) is not { Offset: 500 }) return false;
            return true;
        }, TimeSpan.FromSeconds(30));

        _kafka.DeleteTopic(ProductTopics.Input);
        _kafka.CreateTopic(ProductTopics.Input, 4);
        // A shorter log than the checkpoints': offsets 0-99 again, on four partitions. A replaced log keeps
        // its partition's watermark (its devices have seen it, and it follows the wall clock while idle), so
        // its events start a little ahead of now: every window they fall in is still open.
        using (var producer = Producer())
            await ProduceInOrderAsync(producer, "new", devices: 16, partitions: 4, events: 400, DateTimeOffset.UtcNow.AddSeconds(10).ToUnixTimeMilliseconds(), stepMs: 5);
        var fresh = KafkaOracle.Read(_kafka.BootstrapServers, ProductTopics.Input, size, slide, lateness, bound);
        Assert.Equal(4, fresh.Windows.Windows.Keys.Select(k => int.Parse(k.Item1[4..], CultureInfo.InvariantCulture) % 4).Distinct().Count());

        await WaitForAllFinalAsync(node, fresh.Windows, TimeSpan.FromSeconds(90));
        await AssertRowsMatchAsync(node.Http, fresh.Windows);
        await AssertRowsMatchAsync(node.Http, old.Windows);
        Assert.True(node.Services.GetRequiredService<CollectorMetrics>().LogsReplaced >= 3);
        for (var partition = 0; partition < 3; partition++)
            Assert.Equal(1, (await CheckpointAsync(node, partition))!.LogGeneration);

        // The top-N counts the new partition too: it serves the new log's latest window.
        var latest = fresh.Windows.Windows.Keys.Max(k => k.Item2);
        await WaitUntilAsync(async () => (await TopAsync(node)) is { Length: > 0 } top && ParseTime(top[0].GetProperty("windowEnd").GetString()!) == latest,
            TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Unkeyed_rows_are_never_served_final_before_every_partition_has_passed_them()
    {
        // A backlog of unkeyed records: every device on every partition, and partitions that drain it at their
        // own speed, far apart in event time. Each row is watched while the node works through it.
        ProductTopics.Create(_kafka);
        await TestDataset.ProduceAsync(_kafka.BootstrapServers, ProductTopics.Input, seed: 43, devices: 12, events: 30_000, Slide, Bound, Lateness,
            unkeyedOver: ProductTopics.DefaultPartitions);
        var oracle = Oracle();
        var devices = oracle.Windows.Windows.Keys.Select(k => k.Item1).Distinct().ToList();

        await using var node = await StartNodeAsync();
        var firstFinal = new Dictionary<(string, long), long>();
        using var watching = new CancellationTokenSource();
        var watcher = Task.Run(async () =>
        {
            while (!watching.IsCancellationRequested)
            {
                foreach (var device in devices)
                {
                    using var answer = await node.Http.GetAsync($"/metrics/devices/{device}/history?limit=1000");
                    if (!answer.IsSuccessStatusCode) continue;
                    foreach (var row in (await answer.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("items").EnumerateArray())
                        if (row.GetProperty("final").GetBoolean())
                            firstFinal.TryAdd((device, ParseTime(row.GetProperty("windowEnd").GetString()!)), row.GetProperty("count").GetInt64());
                }
            }
        });
        await WaitForAllFinalAsync(node, oracle.Windows, TimeSpan.FromSeconds(120));
        await watching.CancelAsync();
        await watcher;

        var early = firstFinal.Where(f => oracle.Windows.Windows.TryGetValue(f.Key, out var w) && w.Count != f.Value).ToList();
        Assert.True(early.Count == 0, $"{early.Count} of {firstFinal.Count} rows were served final before their last part, e.g. "
            + string.Join("; ", early.Take(5).Select(e => $"{e.Key} count {e.Value} of {oracle.Windows.Windows[e.Key].Count}")));
        await AssertRowsMatchAsync(node.Http, oracle.Windows);
    }

    private static async Task<JsonElement[]> TopAsync(TestNode node)
    {
        using var answer = await node.Http.GetAsync("/metrics/top/10");
        return answer.IsSuccessStatusCode ? (await answer.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray().ToArray() : [];
    }

    private static long ParseTime(string iso) => DateTimeOffset.Parse(iso, CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
}
