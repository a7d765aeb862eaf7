using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MetricsCollector.Kafka;
using MetricsCollector.Tests.Support;
using MetricsCollector.Testing;
using static MetricsCollector.Tests.EndToEnd.PipelineEndToEndTests;

namespace MetricsCollector.Tests.EndToEnd;

/// <summary>
/// <c>GET /metrics/fleet</c> on a node through the embedded broker, SQLite and real HTTP: for every window,
/// the figures over all the events of all its devices equal the exact oracle's (counts exact, percentiles
/// within the digest's bound); by a figure, they are that figure of every device's served row.
/// </summary>
public sealed class FleetEndToEndTests : BrokerTest
{
    [Fact]
    public async Task Fleet_figures_of_every_window_equal_the_exact_oracle_over_all_its_events()
    {
        await TestDataset.ProduceAsync(Kafka.BootstrapServers, ProductTopics.Input, seed: 61, devices: 40, events: 12_000, Slide, Bound, Lateness);
        var oracle = KafkaOracle.Read(Kafka.BootstrapServers, ProductTopics.Input, Size, Slide, Lateness, Bound).Windows;
        await using var node = await TestNode.StartAsync(Kafka.BootstrapServers, Path.Combine(Dir, "metrics.db"));
        await WaitForAllFinalAsync(node, oracle, TimeSpan.FromSeconds(90));

        var byEnd = oracle.Windows.Values.GroupBy(w => w.End).ToDictionary(g => g.Key, g => g.ToList());
        // The top-N singleton learns the last windows' rows as they are written: wait until it serves the newest.
        await WaitUntilAsync(async () => (await FleetAsync(node.Http, "")).WindowEnd == Iso(byEnd.Keys.Max()), TimeSpan.FromSeconds(30));

        foreach (var (end, windows) in byEnd)
        {
            var fleet = await FleetAsync(node.Http, $"?windowEnd={end}");
            var all = new ExactWindow("fleet", windows[0].Start, end);
            foreach (var value in windows.SelectMany(w => w.Values)) all.Add(0, value, late: false);
            var at = $"window {Iso(end)}";
            Assert.Equal((Iso(windows[0].Start), Iso(end)), (fleet.WindowStart, fleet.WindowEnd));
            Assert.True(all.Count == fleet.Count, $"{at}: count {fleet.Count}, expected {all.Count}");
            Assert.True(windows.Count == fleet.Devices, $"{at}: devices {fleet.Devices}, expected {windows.Count}");
            Assert.True(all.Min == fleet.Min && all.Max == fleet.Max, $"{at}: min/max");
            Assert.True(Math.Abs(all.Mean - fleet.Mean) <= 1e-9 * Math.Max(1, all.Mean), $"{at}: mean {fleet.Mean} vs {all.Mean}");
            Assert.True(fleet.Final, at);
            Assert.Null(fleet.By);
            foreach (var (q, value) in new[] { (0.5, fleet.P50), (0.9, fleet.P90), (0.95, fleet.Percentile95), (0.99, fleet.P99) })
                Assert.True(all.RankError(q, value) <= all.RankBound(q), $"{at}: q={q} -> {value}, rank error {all.RankError(q, value)}");
        }

        // By a figure: the distribution of that figure over the devices' rows as the API serves them.
        var latest = byEnd.Keys.Max();
        var rows = await node.Http.GetFromJsonAsync<JsonElement>($"/metrics/top/1000?windowEnd={latest}&by=p99");
        var p99s = rows.EnumerateArray().Select(r => r.GetProperty("p99").GetDouble()).ToList();
        var byP99 = await FleetAsync(node.Http, "?by=p99");
        Assert.Equal(("p99", Iso(latest), p99s.Count, (long)p99s.Count), (byP99.By, byP99.WindowEnd, byP99.Devices, byP99.Count));
        Assert.Equal((p99s.Min(), p99s.Max()), (byP99.Min, byP99.Max));
        Assert.True(Math.Abs(p99s.Average() - byP99.Mean) <= 1e-9 * p99s.Average());

        // A window after the latest that has fired everywhere, and a window with no rows, are not found; a bad figure is a bad parameter.
        Assert.Equal(HttpStatusCode.NotFound, (await node.Http.GetAsync($"/metrics/fleet?windowEnd={latest + Slide}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await node.Http.GetAsync($"/metrics/fleet?windowEnd={byEnd.Keys.Min() - Slide}")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await node.Http.GetAsync("/metrics/fleet?by=p42")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await node.Http.GetAsync("/metrics/fleet?windowEnd=yesterday")).StatusCode);
    }

    private static async Task<FleetRow> FleetAsync(HttpClient http, string query)
    {
        using var answer = await http.GetAsync("/metrics/fleet" + query);
        if (answer.StatusCode == HttpStatusCode.NotFound) return new FleetRow("", "", null, 0, 0, 0, 0, 0, 0, 0, 0, 0, false);
        answer.EnsureSuccessStatusCode();
        return (await answer.Content.ReadFromJsonAsync<FleetRow>(Json))!;
    }

    private static string Iso(long epochMs) =>
        DateTime.UnixEpoch.AddMilliseconds(epochMs).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private sealed record FleetRow(
        string WindowStart,
        string WindowEnd,
        string? By,
        double Percentile95,
        double P50,
        double P90,
        double P99,
        double Min,
        double Max,
        double Mean,
        long Count,
        int Devices,
        bool Final);
}
