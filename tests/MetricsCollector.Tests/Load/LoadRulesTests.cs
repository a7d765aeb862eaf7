using HdrHistogram;
using MetricsCollector.Load;

namespace MetricsCollector.Tests.Load;

/// <summary>The load runs' rules that need no cluster: thresholds, route mixes, durations and probe visibility.</summary>
public sealed class LoadRulesTests
{
    [Theory]
    [InlineData("p99<5ms", null, "p99", "<", 5_000)]
    [InlineData("p99.9 <= 20 ms", null, "p99.9", "<=", 20_000)]
    [InlineData("produce.max<1s", "produce", "max", "<", 1_000_000)]
    [InlineData("mean>250us", null, "mean", ">", 250)]
    [InlineData("visible.p50<1m", "visible", "p50", "<", 60_000_000)]
    public void A_latency_threshold_reads_its_histogram_measure_and_limit_in_microseconds(string text, string? histogram, string measure, string comparison, double micros)
    {
        var threshold = Threshold.Parse(text);

        Assert.Equal((histogram, measure, comparison, micros), (threshold.Histogram, threshold.Measure, threshold.Comparison, threshold.Limit));
    }

    [Theory]
    [InlineData("p99<5")]
    [InlineData("p0<5ms")]
    [InlineData("p101<5ms")]
    [InlineData("p99~5ms")]
    [InlineData("rate>5%")]
    [InlineData("produce.errors<1")]
    [InlineData("latency<5ms")]
    public void A_threshold_that_cannot_be_read_is_refused_with_the_reason(string text) =>
        Assert.Contains(text, Assert.Throws<FormatException>(() => Threshold.Parse(text)).Message, StringComparison.Ordinal);

    [Fact]
    public void Thresholds_judge_the_main_histogram_a_named_one_errors_and_rate()
    {
        var latency = LatencyHistogram.New();
        var other = LatencyHistogram.New();
        for (var ms = 1; ms <= 100; ms++)
        {
            latency.RecordValue(ms * 1000);
        }

        other.RecordValue(7);
        var result = Result(latency, other, operations: 200, errors: 3, rate: 99.5);

        Assert.True(Threshold.Parse("p50<=51ms").Check(result).Passed);
        Assert.False(Threshold.Parse("p99<90ms").Check(result).Passed);
        Assert.True(Threshold.Parse("other.max<10us").Check(result).Passed);
        Assert.True(Threshold.Parse("errors<2%").Check(result).Passed);
        Assert.False(Threshold.Parse("errors=0").Check(result).Passed);
        Assert.False(Threshold.Parse("rate>=100").Check(result).Passed);
        Assert.False(Threshold.Parse("missing.p50<1s").Check(result).Passed);
        Assert.False(Threshold.Parse("p50<1s").Check(Result(LatencyHistogram.New(), other, 0, 0, 0)).Passed);
    }

    [Fact]
    public void A_route_mix_draws_each_route_in_proportion_to_its_weight()
    {
        var mix = RouteMix.Parse("top=1, device=3,history=0");
        var random = new Random(1);
        var drawn = Enumerable.Range(0, 40_000).Select(_ => mix.Pick(random)).GroupBy(r => r).ToDictionary(g => g.Key, g => g.Count());

        Assert.Equal(["device", "top"], drawn.Keys.Order());
        Assert.InRange(drawn["device"] / (double)drawn["top"], 2.8, 3.2);
        Assert.Throws<FormatException>(() => RouteMix.Parse("top=1,fleet=2"));
        Assert.Throws<FormatException>(() => RouteMix.Parse("top=0"));
        Assert.Throws<FormatException>(() => RouteMix.Parse("top=1,top=2"));
    }

    [Theory]
    [InlineData("250ms", 250)]
    [InlineData("1.5s", 1_500)]
    [InlineData("10m", 600_000)]
    [InlineData("00:01:30", 90_000)]
    public void Durations_read_as_typed_and_write_back_short(string text, double ms)
    {
        Assert.True(Durations.TryParse(text, out var duration));
        Assert.Equal(ms, duration.TotalMilliseconds);
        Assert.True(Durations.TryParse(Durations.Format(duration), out var again));
        Assert.Equal(duration, again);
    }

    [Fact]
    public void A_probe_event_is_seen_once_a_row_of_a_window_holding_it_counts_every_probe_event_sent_in_that_window()
    {
        var tracker = new ProbeTracker(["probe"]);
        var t0 = DateTimeOffset.UnixEpoch;
        tracker.Produced("probe", 1_000, t0);
        tracker.Produced("probe", 2_000, t0.AddSeconds(1));
        tracker.Produced("probe", 12_000, t0.AddSeconds(11));

        // [0, 10 s) holds two events, and a row counting one of them shows neither for sure.
        Assert.Empty(tracker.Observe("probe", [new CountedWindow(0, 10_000, 1)], t0.AddSeconds(15)));
        var seen = tracker.Observe("probe", [new CountedWindow(0, 10_000, 2)], t0.AddSeconds(16));

        Assert.Equal([TimeSpan.FromSeconds(16), TimeSpan.FromSeconds(15)], seen);
        Assert.Equal(12_000, tracker.OldestPending("probe"));
        // Seen once only, however many rows show it later.
        Assert.Empty(tracker.Observe("probe", [new CountedWindow(0, 10_000, 2), new CountedWindow(-5_000, 5_000, 2)], t0.AddSeconds(20)));
        Assert.Equal([TimeSpan.FromSeconds(19)], tracker.Observe("probe", [new CountedWindow(5_000, 15_000, 1)], t0.AddSeconds(30)));
        Assert.Equal((3, 3, 0), (tracker.Sent, tracker.Seen, tracker.Pending));
        Assert.Null(tracker.OldestPending("probe"));
    }

    [Fact]
    public void The_report_folder_holds_the_summary_the_html_page_with_a_plot_per_histogram_and_the_hgrm_files()
    {
        var folder = Directory.CreateTempSubdirectory("mc-report-").FullName;
        try
        {
            var latency = LatencyHistogram.New();
            latency.RecordValue(1_500);
            var result = Result(latency, LatencyHistogram.New(), 1, 0, 1);
            var thresholds = new[] { Threshold.Parse("p99<1ms").Check(result) };

            var summary = LoadReport.Write(folder, result, thresholds);

            Assert.Equal(summary, File.ReadAllText(Path.Combine(folder, "summary.md")));
            Assert.Contains("| p99<1ms | 1.50 ms | FAILED |", summary, StringComparison.Ordinal);
            var html = File.ReadAllText(Path.Combine(folder, "report.html"));
            Assert.Equal(2, html.Split("<svg").Length - 1);
            Assert.DoesNotContain("<script", html, StringComparison.Ordinal);
            Assert.Contains("Total count    =            1", File.ReadAllText(Path.Combine(folder, "latency.hgrm")), StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(folder, "other.hgrm")));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static LoadResult Result(HistogramBase main, HistogramBase other, long operations, long errors, double rate) =>
        new("test", TimeSpan.FromSeconds(1), [new("latency", "main", main), new("other", "second", other)], operations, errors, rate, [], [], []);
}
