using Akka.Actor;
using Akka.TestKit.Xunit2;
using MetricsCollector.Configuration;
using MetricsCollector.Core.Digests;
using MetricsCollector.Core.Windows;
using MetricsCollector.Devices;
using MetricsCollector.Observability;
using MetricsCollector.ReadSide;

namespace MetricsCollector.Tests.ReadSide;

/// <summary>The result writer with Akka's TestKit over a real SQLite store: what it stores, whom it tells, what it measures.</summary>
public sealed class ResultWriterTests(SqliteStoreFixture store) : TestKit, IClassFixture<SqliteStoreFixture>, IAsyncLifetime
{
    private const long Minute = 60_000;
    private readonly CollectorMetrics _metrics = new();

    public Task InitializeAsync() => store.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    private static WindowPart Part(string device, long windowEnd, int revision, bool final, long lastUpdated, bool firstRow)
    {
        var digest = new TDigest();
        for (var i = 0; i < 50; i++) digest.Add(i);
        return new WindowPart(0, WindowResult.Of(device, windowEnd - 30 * Minute, windowEnd, digest, revision, final, lastUpdated), digest.ToBytes())
        {
            FirstRow = firstRow,
        };
    }

    [Fact]
    public async Task Stored_rows_are_acknowledged_to_their_device_and_published_and_fire_to_stored_counts_each_windows_first_row()
    {
        var topN = CreateTestProbe();
        var writer = Sys.ActorOf(ResultWriter.Props(store.Store, topN.Ref, _metrics, new ResultWriterSettings(BatchRows: 3, FlushDelay: TimeSpan.FromMilliseconds(20), PublishSlice: 100), new WriteBacklog(1_000)));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        // A window that fired and closed in one move of the watermark: its first row is already final. Beside
        // it, a revision and a closing of windows whose first rows were stored before: those do not count.
        writer.Tell(new StoreRows(
            [
                Part("a", 60 * Minute, revision: 1, final: true, lastUpdated: now - 600_000, firstRow: true),
                Part("b", 60 * Minute, revision: 2, final: false, lastUpdated: now - 1_800_000, firstRow: false),
                Part("c", 60 * Minute, revision: 1, final: true, lastUpdated: now - 1_800_000, firstRow: false),
            ],
            Sequence: 7));

        Assert.Equal(7, ExpectMsg<RowsStored>().Sequence);
        Assert.Equal(["a", "b", "c"], topN.ExpectMsg<RowsPublished>().Rows.Select(r => r.DeviceId).Order());
        Assert.Equal(3, _metrics.RowsWritten);
        // One delay recorded, the first row's ten minutes (to the histogram's three significant digits).
        Assert.InRange(_metrics.FireToStore(0.0), 599_000, 602_000);
        Assert.InRange(_metrics.FireToStore(1.0), 599_000, 602_000);
        Assert.Equal(3, (await store.Store.TopAsync(60 * Minute, RankBy.P95, 10)).Count);
    }

    /// <summary>
    /// After a crash a device replays records its snapshot did not hold and makes the row of a window already stored
    /// again, later. The top-N holder may hear it again (same figures); the results topic must not, or it would carry
    /// a row the store does not hold while the stored one, still owed, is taken for produced.
    /// </summary>
    [Fact]
    public void A_replays_copy_of_a_stored_row_goes_to_the_top_n_but_not_to_the_results_topic()
    {
        var topN = CreateTestProbe();
        var resultsTopic = CreateTestProbe();
        var writer = Sys.ActorOf(ResultWriter.Props(store.Store, topN.Ref, _metrics, new ResultWriterSettings(BatchRows: 2, FlushDelay: TimeSpan.FromMilliseconds(20), PublishSlice: 100), new WriteBacklog(1_000), resultsTopic.Ref));
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        writer.Tell(new StoreRows([Part("a", 60 * Minute, revision: 1, final: true, lastUpdated: now, firstRow: true)], Sequence: 1));
        ExpectMsg<RowsStored>();
        Assert.Equal(["a"], resultsTopic.ExpectMsg<RowsPublished>().Rows.Select(r => r.DeviceId));
        topN.ExpectMsg<RowsPublished>();

        writer.Tell(new StoreRows(
            [
                Part("a", 60 * Minute, revision: 1, final: true, lastUpdated: now + 9_000, firstRow: true),
                Part("b", 60 * Minute, revision: 1, final: false, lastUpdated: now + 9_000, firstRow: true),
            ],
            Sequence: 2));

        Assert.Equal(2, ExpectMsg<RowsStored>().Sequence);
        Assert.Equal(["a", "b"], topN.ExpectMsg<RowsPublished>().Rows.Select(r => r.DeviceId).Order());
        Assert.Equal(["b"], resultsTopic.ExpectMsg<RowsPublished>().Rows.Select(r => r.DeviceId));
        resultsTopic.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }
}
