using Akka.Actor;
using Akka.TestKit.Xunit2;
using MetricsCollector.Core.Windows;
using MetricsCollector.Partitions;
using MetricsCollector.ReadSide;
using MetricsCollector.Testing;

namespace MetricsCollector.Tests.ReadSide;

/// <summary>The top-N singleton with Akka's TestKit over a real SQLite store: which window it serves, order, ties, n and figure.</summary>
public sealed class TopNActorTests : TestKit, IClassFixture<SqliteStoreFixture>
{
    private const long Slide = 10_000;
    private readonly SqliteStoreFixture _store;

    public TopNActorTests(SqliteStoreFixture store)
    {
        _store = store;
        _store.ResetAsync().GetAwaiter().GetResult();
    }

    private IActorRef TopN(int partitions = 2)
    {
        var topN = Sys.ActorOf(TopNActor.Props(_store.Store, new WindowSpec(3 * Slide, Slide)));
        topN.Tell(new TopicPartitions(partitions));
        return topN;
    }

    private static WindowResult Row(string device, long end, double p95, double max = 50, int revision = 1, bool final = false) =>
        new(device, end - 60_000, end, 10, 20, p95, 99, 0, max, 30, 100, revision, final, 0, PercentileBounds.Within(0, max));

    private IReadOnlyList<WindowResult> Ask(IActorRef topN, int n, RankBy by = RankBy.P95)
    {
        topN.Tell(new GetTopN(n, by), TestActor);
        return ExpectMsg<TopNAnswer>().Rows;
    }

    [Fact]
    public void Nothing_is_served_before_every_partition_has_reported()
    {
        var topN = TopN();
        topN.Tell(new RowsPublished([Row("a", 60_000, 90)]));
        topN.Tell(new PartitionWatermark(0, 70_000));
        Assert.Empty(Ask(topN, 10));
    }

    [Fact]
    public void Nothing_is_served_before_the_partition_count_is_known()
    {
        var topN = Sys.ActorOf(TopNActor.Props(_store.Store, new WindowSpec(3 * Slide, Slide)));
        topN.Tell(new RowsPublished([Row("a", 60_000, 90)]));
        topN.Tell(new PartitionWatermark(0, 70_000));
        Assert.Empty(Ask(topN, 10));
        topN.Tell(new TopicPartitions(1));
        Assert.Equal(["a"], Ask(topN, 10).Select(r => r.DeviceId));
    }

    [Fact]
    public void Every_partition_of_the_topic_counts_however_many_there_are()
    {
        // Thirty partitions: ten reporting is not every partition.
        var topN = TopN(partitions: 30);
        topN.Tell(new RowsPublished([Row("a", 60_000, 90)]));
        for (var partition = 0; partition < 10; partition++) topN.Tell(new PartitionWatermark(partition, 70_000));
        Assert.Empty(Ask(topN, 10));
        for (var partition = 10; partition < 30; partition++) topN.Tell(new PartitionWatermark(partition, 70_000));
        Assert.Equal(["a"], Ask(topN, 10).Select(r => r.DeviceId));
    }

    [Fact]
    public void A_partition_added_keeps_the_last_complete_window_until_it_reports_then_counts()
    {
        var topN = TopN(partitions: 1);
        topN.Tell(new RowsPublished([Row("a", 60_000, 90), Row("b", 70_000, 80)]));
        topN.Tell(new PartitionWatermark(0, 65_000));
        Assert.Equal(["a"], Ask(topN, 10).Select(r => r.DeviceId));

        topN.Tell(new TopicPartitions(2));
        topN.Tell(new PartitionWatermark(0, 75_000));
        // Partition 1 has not reported: still the window that was complete.
        Assert.Equal(["a"], Ask(topN, 10).Select(r => r.DeviceId));

        topN.Tell(new PartitionWatermark(1, 71_000));
        Assert.Equal(["b"], Ask(topN, 10).Select(r => r.DeviceId));
    }

    [Fact]
    public void The_latest_window_fired_on_every_partition_is_served_ranked_with_ties_by_device_id()
    {
        var topN = TopN();
        topN.Tell(new RowsPublished([Row("c", 60_000, 90), Row("a", 60_000, 95), Row("b", 60_000, 90), Row("z", 70_000, 99)]));
        topN.Tell(new PartitionWatermark(0, 75_000));
        // Partition 1 has not passed 70 000 yet: the window ending then is not complete everywhere.
        topN.Tell(new PartitionWatermark(1, 65_000));

        Assert.Equal(["a", "b", "c"], Ask(topN, 10).Select(r => r.DeviceId));
        Assert.Equal(["a", "b"], Ask(topN, 2).Select(r => r.DeviceId));
        // Only as many rows as asked for are ranked: a larger n after a smaller one ranks again.
        topN.Tell(new RowsPublished([Row("d", 60_000, 97)]));
        Assert.Equal(["d"], Ask(topN, 1).Select(r => r.DeviceId));
        Assert.Equal(["d", "a", "b"], Ask(topN, 3).Select(r => r.DeviceId));
        Assert.Equal(["d", "a", "b", "c"], Ask(topN, 10).Select(r => r.DeviceId));
        Assert.Equal(["d", "a"], Ask(topN, 2).Select(r => r.DeviceId));

        topN.Tell(new PartitionWatermark(1, 71_000));
        Assert.Equal(["z"], Ask(topN, 10).Select(r => r.DeviceId));
    }

    [Fact]
    public void Other_figures_rank_too_and_revisions_replace_rows()
    {
        var topN = TopN(partitions: 1);
        topN.Tell(new RowsPublished([Row("a", 60_000, 90, max: 10), Row("b", 60_000, 80, max: 20)]));
        topN.Tell(new PartitionWatermark(0, 60_000));
        Assert.Equal(["b", "a"], Ask(topN, 10, RankBy.Max).Select(r => r.DeviceId));

        topN.Tell(new RowsPublished([Row("b", 60_000, 99, revision: 2)]));
        var top = Ask(topN, 1);
        Assert.Equal(("b", 2), (top[0].DeviceId, top[0].Revision));
    }

    [Fact]
    public async Task A_new_singleton_answers_from_the_store_until_rows_reach_it()
    {
        await _store.Store.UpsertAsync(SinglePart.Of([Row("x", 50_000, 70), Row("y", 50_000, 80), Row("w", 90_000, 99)]));
        var topN = TopN(partitions: 1);
        topN.Tell(new PartitionWatermark(0, 65_000));
        Assert.Equal(["y", "x"], Ask(topN, 10).Select(r => r.DeviceId));
    }
}
