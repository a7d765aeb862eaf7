using System.Collections;
using MetricsCollector.Configuration;
using MetricsCollector.Core.Windows;
using MetricsCollector.Ingest;
using MetricsCollector.Partitions;
using MetricsCollector.ReadSide;
using MetricsCollector.Tests.Partitions;

namespace MetricsCollector.Tests.ReadSide;

public sealed class RowFinalityTests
{
    private sealed class Checkpoints : IPartitionProgressStore
    {
        public readonly Dictionary<string, PartitionProgress> Saved = new();

        public Task SaveAsync(string key, PartitionProgress progress)
        {
            Saved[key] = progress;
            return Task.CompletedTask;
        }

        public Task<PartitionProgress?> LoadAsync(string key) => Task.FromResult(Saved.GetValueOrDefault(key));
    }

    // 60 s windows sliding by 10 s, 5 s lateness: the window ending at 60 000 closes at 65 000.
    private static readonly CollectorSettings Settings = CollectorSettings.Load(null, new Hashtable
    {
        ["MC_WINDOW_SIZE"] = "60s", ["MC_WINDOW_SLIDE"] = "10s", ["MC_ALLOWED_LATENESS"] = "5s",
    });

    private readonly Checkpoints _checkpoints = new();
    private readonly InputTopic _topic = new();
    private readonly SettableClock _clock = new(0);

    private RowFinality Finality() => new(_checkpoints, _topic, Settings, _clock);

    private void Stored(int partition, long through) =>
        _checkpoints.Saved[PartitionProgress.KeyOf(Settings.GroupId, Settings.Topic, partition)] =
            PartitionProgress.Beginning("cluster") with { FinalThrough = through };

    private static WindowResult Row(long end, bool final) => new("d", end - 60_000, end, 1, 2, 3, 4, 0, 5, 2, 10, 1, final, 0, PercentileBounds.Within(0, 5));

    [Fact]
    public async Task A_row_is_final_only_once_every_partition_of_the_topic_stored_its_watermark_past_the_close()
    {
        _topic.Partitions = 3;
        Stored(0, 70_000);
        Stored(1, 70_000);
        var finality = Finality();
        // Partition 2 has stored nothing: its part may still come.
        Assert.False((await finality.ApplyAsync(Row(60_000, final: true)))!.Final);

        Stored(2, 64_999);
        _clock.Now += 1_000;
        Assert.False((await finality.ApplyAsync(Row(60_000, final: true)))!.Final);

        Stored(2, 65_000);
        _clock.Now += 1_000;
        Assert.True((await finality.ApplyAsync(Row(60_000, final: true)))!.Final);
        // The watermarks never make final what the parts do not.
        Assert.False((await finality.ApplyAsync(Row(60_000, final: false)))!.Final);
        Assert.Equal([false, true], (await finality.ApplyAsync([Row(70_000, true), Row(60_000, true)])).Select(r => r.Final));
    }

    [Fact]
    public async Task Nothing_is_final_before_the_topic_partition_count_is_known_and_a_partition_added_counts()
    {
        Stored(0, 100_000);
        var finality = Finality();
        Assert.False((await finality.ApplyAsync(Row(60_000, final: true)))!.Final);

        _topic.Partitions = 1;
        _clock.Now += 1_000;
        Assert.True((await finality.ApplyAsync(Row(60_000, final: true)))!.Final);

        _topic.Partitions = 2;
        _clock.Now += 1_000;
        Assert.False((await finality.ApplyAsync(Row(60_000, final: true)))!.Final);
    }
}
