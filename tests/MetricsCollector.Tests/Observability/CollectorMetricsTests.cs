using System.Diagnostics.Metrics;
using MetricsCollector.Observability;
using MetricsCollector.Tests.Partitions;

namespace MetricsCollector.Tests.Observability;

/// <summary>What the instruments of <see cref="CollectorMetrics"/> report when a reader collects.</summary>
public sealed class CollectorMetricsTests
{
    [Fact]
    public void Counters_report_what_the_hot_path_added_and_dead_letters_start_at_zero_for_every_reason()
    {
        using var metrics = new CollectorMetrics();
        metrics.AddRecordsIn(500);
        metrics.AddRecordsIn(20);
        metrics.AddDeadLettered("not-json");

        var measured = Collect(metrics);

        Assert.Equal(520, measured.Single(m => m.Name == "mc_records_in").Value);
        var deadLettered = measured.Where(m => m.Name == "mc_dead_lettered").ToDictionary(m => (string)m.Tags["reason"]!, m => m.Value);
        Assert.Equal(1, deadLettered["not-json"]);
        Assert.Equal(0, deadLettered["not-utf8"]);
    }

    [Fact]
    public void Records_unread_count_from_what_was_read_not_from_the_commit_which_trails_by_the_snapshots()
    {
        // A node that keeps up reads to the log's end while its commits trail by a snapshot interval or more:
        // it is not catching up, though its committed lag is large.
        using var metrics = new CollectorMetrics();
        metrics.WatchConsumer(new ConsumerControlStub { LogEnd = 100_000 }, "topic");
        metrics.SetCommitted(0, 20_000);
        metrics.SetRead(0, 99_500);
        metrics.SetCommitted(1, 30_000);
        metrics.SetRead(1, 100_000);

        Assert.Equal(150_000, metrics.RecordsBehind());
        Assert.Equal(500, metrics.RecordsUnread());

        metrics.ForgetPartition(0);
        Assert.Equal(0, metrics.RecordsUnread());
    }

    [Fact]
    public void A_partition_held_back_reports_1_the_others_0_and_a_forgotten_one_nothing()
    {
        using var metrics = new CollectorMetrics();
        metrics.SetWatermark(0, 1_000);
        metrics.SetWatermark(1, 2_000);
        metrics.SetWatermark(2, 3_000);
        metrics.SetHeldBack(1, true);
        metrics.SetHeldBack(2, true);
        metrics.SetHeldBack(2, false);

        Assert.Equal(new Dictionary<int, long> { [0] = 0, [1] = 1, [2] = 0 }, HeldBack(metrics));

        metrics.ForgetPartition(1);
        Assert.Equal(new Dictionary<int, long> { [0] = 0, [2] = 0 }, HeldBack(metrics));
    }

    [Fact]
    public void Lag_is_unknown_until_the_partition_has_committed_and_the_log_end_is_known()
    {
        using var metrics = new CollectorMetrics();
        metrics.SetWatermark(4, 1_000);

        var status = Assert.Single(metrics.PartitionStatuses());
        Assert.Equal(new PartitionStatus(4, 1_000, -1, null, null), status);
        Assert.DoesNotContain(Collect(metrics), m => m.Name is "mc_partition_lag" or "mc_partition_committed_offset");
        Assert.Equal(0, Collect(metrics).Single(m => m.Name == "mc_records_behind").Value);
    }

    private static Dictionary<int, long> HeldBack(CollectorMetrics metrics) =>
        Collect(metrics).Where(m => m.Name == "mc_partitions_held_back").ToDictionary(m => (int)m.Tags["partition"]!, m => m.Value);

    private static List<(string Name, long Value, Dictionary<string, object?> Tags)> Collect(CollectorMetrics metrics)
    {
        var measured = new List<(string, long, Dictionary<string, object?>)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == metrics.Meter) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => measured.Add((instrument.Name, value, ToDictionary(tags))));
        listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => measured.Add((instrument.Name, value, ToDictionary(tags))));
        listener.Start();
        listener.RecordObservableInstruments();
        return measured;
    }

    private static Dictionary<string, object?> ToDictionary(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var result = new Dictionary<string, object?>();
        foreach (var (key, value) in tags) result[key] = value;
        return result;
    }
}
