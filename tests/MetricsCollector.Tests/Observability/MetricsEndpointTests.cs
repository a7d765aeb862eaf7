using System.Diagnostics.Metrics;
using System.Text.RegularExpressions;
using MetricsCollector.Observability;
using Microsoft.Extensions.DependencyInjection;

namespace MetricsCollector.Tests.Observability;

/// <summary>What Prometheus reads at <c>/metrics</c> of a running node: our families under their mc_ names, lag, runtime, ASP.NET Core and Npgsql.</summary>
[Collection(ObservedNodeCollection.Name)]
public sealed partial class MetricsEndpointTests(ObservedNode observed)
{
    [Fact]
    public async Task Metrics_exposes_our_counters_histograms_lag_and_the_runtime_web_and_database_families()
    {
        var text = await observed.Node.Http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        var families = Types(text);

        foreach (var counter in new[]
                 {
                     "mc_records_in_total", "mc_events_in_total", "mc_events_applied_total", "mc_dead_lettered_total", "mc_too_late_total",
                     "mc_late_events_total", "mc_windows_fired_total", "mc_rows_written_total", "mc_store_failures_total",
                     "mc_snapshots_total", "mc_snapshot_bytes_total", "mc_snapshot_failures_total",
                 })
            Assert.Equal("counter", families.GetValueOrDefault(counter));
        foreach (var gauge in new[]
                 {
                     "mc_partition_watermark_ms", "mc_partition_committed_offset", "mc_partition_log_end_offset", "mc_partition_lag",
                     "mc_records_behind", "mc_partitions_held_back", "mc_cluster_members", "mc_cluster_unreachable_members",
                 })
            Assert.Equal("gauge", families.GetValueOrDefault(gauge));
        // A histogram, with _sum and _count, where the hand-written exposition had a summary without _sum.
        Assert.Equal("histogram", families.GetValueOrDefault("mc_fire_to_store_seconds"));
        Assert.Matches(@"(?m)^mc_fire_to_store_seconds_sum(\{\})? [0-9.eE+-]+$", text);
        Assert.Matches(@"(?m)^mc_fire_to_store_seconds_bucket\{le=""\+Inf""\} [1-9][0-9]*$", text);
        // Rows fired from records with Kafka timestamps: their freshness is measured too.
        Assert.Equal("histogram", families.GetValueOrDefault("mc_event_to_visible_seconds"));
        Assert.Matches(@"(?m)^mc_event_to_visible_seconds_count(\{\})? [1-9][0-9]*$", text);

        // One lag series per partition, and the node's total.
        var lags = Regex.Matches(text, @"(?m)^mc_partition_lag\{partition=""(\d+)""\} (\d+)$");
        Assert.Equal(Enumerable.Range(0, 10).ToHashSet(), lags.Select(m => int.Parse(m.Groups[1].Value)).ToHashSet());
        Assert.Matches(@"(?m)^mc_records_behind(\{\})? \d+$", text);
        Assert.Matches(@"(?m)^mc_cluster_members\{status=""Up""\} 1$", text);
        // Where the CPU goes, by kind of actor: the node handled records, so partitions and devices used some.
        Assert.Equal("counter", families.GetValueOrDefault("mc_actor_cpu_seconds_total"));
        foreach (var actor in new[] { "partition", "device" })
            Assert.Matches($@"(?m)^mc_actor_cpu_seconds_total\{{actor=""{actor}""\}} (0\.0*[1-9]|[1-9])[0-9.eE+-]*$", text);

        Assert.Contains(families.Keys, f => f.StartsWith("dotnet_gc_", StringComparison.Ordinal));
        Assert.Contains("dotnet_process_memory_working_set_bytes", families.Keys);
        Assert.Equal("histogram", families.GetValueOrDefault("http_server_request_duration_seconds"));
        Assert.Matches(@"http_route=""/metrics/top/\{n\}""", text);
        Assert.Contains(families.Keys, f => f.StartsWith("db_client_", StringComparison.Ordinal));
        // The hand-written exposition is gone: nothing but OTel writes the page.
        Assert.DoesNotContain("quantile=", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_node_exposes_its_own_numbers_only_when_other_nodes_share_its_process()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var other = new CollectorMetrics(services.GetRequiredService<IMeterFactory>());
        other.AddRecordsIn(1_000_000_000);
        other.SetWatermark(77, 1_000);

        var text = await observed.Node.Http.GetStringAsync(new Uri("/metrics", UriKind.Relative));

        Assert.DoesNotContain("partition=\"77\"", text, StringComparison.Ordinal);
        var recordsIn = long.Parse(Regex.Match(text, @"(?m)^mc_records_in_total(?:\{\})? (\d+)$").Groups[1].Value);
        Assert.InRange(recordsIn, 1, observed.Metrics.RecordsIn);
    }

    [Fact]
    public void Partition_statuses_report_lag_as_log_end_minus_committed()
    {
        var statuses = observed.Metrics.PartitionStatuses();

        Assert.Equal(Enumerable.Range(0, 10), statuses.Select(s => s.Partition));
        foreach (var status in statuses)
        {
            Assert.NotNull(status.LogEnd);
            Assert.True(status.Committed >= 0, $"partition {status.Partition} has not committed");
            Assert.Equal(Math.Max(status.LogEnd!.Value - status.Committed, 0), status.Lag);
        }
    }

    private static Dictionary<string, string> Types(string text) =>
        TypeLine().Matches(text).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);

    [GeneratedRegex(@"(?m)^# TYPE (\S+) (\S+)$")]
    private static partial Regex TypeLine();
}
