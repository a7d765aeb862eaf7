using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using MetricsCollector.Kafka;
using MetricsCollector.Observability;
using MetricsCollector.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using static MetricsCollector.Tests.EndToEnd.PipelineEndToEndTests;

namespace MetricsCollector.Tests.EndToEnd;

/// <summary>
/// <c>GET /metrics/devices/{id}/live</c> on a node through the embedded broker and real HTTP: while a window
/// is open, its provisional row counts every event sent so far; an unknown device is a 404; a device idle
/// for devices.passivate-after leaves memory and comes back with its windows.
/// </summary>
public sealed class LiveEndToEndTests : BrokerTest
{
    // Characters that sharding escapes in its actor names, and '/' that the API receives escaped.
    private const string Device = "live 1/ü@x";

    [Fact]
    public async Task An_open_windows_provisional_row_counts_every_event_sent_so_far()
    {
        await using var node = await TestNode.StartAsync(Kafka.BootstrapServers, Path.Combine(Dir, "metrics.db"));
        using var device = new DeviceSender(Kafka.BootstrapServers);

        await device.SendAsync(40);
        var rows = await WaitForCountAsync(node.Http, device.Sent);
        // Every window holding the events is open: size / slide of them, each counting all 40.
        Assert.Equal(Size / Slide, rows.Count);
        Assert.All(rows, r =>
        {
            Assert.Equal((Device, 40L, 0, false, true), (r.DeviceId, r.Count, r.Revision, r.Final, r.Provisional));
            Assert.Equal((0.5, 39.5), (r.Min, r.Max));
        });
        Assert.Equal(rows.Select(r => r.WindowEnd).OrderByDescending(e => e, StringComparer.Ordinal), rows.Select(r => r.WindowEnd));

        await device.SendAsync(25);
        Assert.All(await WaitForCountAsync(node.Http, device.Sent), r => Assert.Equal(65, r.Count));

        Assert.Equal(HttpStatusCode.NotFound, (await node.Http.GetAsync("/metrics/devices/nobody/live")).StatusCode);
    }

    [Fact]
    public async Task A_device_idle_for_passivate_after_leaves_memory_and_comes_back_with_its_windows()
    {
        await using var node = await TestNode.StartAsync(Kafka.BootstrapServers, Path.Combine(Dir, "metrics.db"),
            hocon: NodeEnvironment.TestHocon + "\nmetrics-collector.devices.passivate-after = 1s\n");
        var metrics = node.Services.GetRequiredService<CollectorMetrics>();
        using var device = new DeviceSender(Kafka.BootstrapServers);

        await device.SendAsync(40);
        // Checked before the live route is polled: its questions go through the shard, which would start
        // the device again if the partition had meanwhile passivated it (1 s after its last record).
        await WaitUntilAsync(() => Task.FromResult(metrics.DevicesResident == 1), TimeSpan.FromSeconds(30));
        await WaitForCountAsync(node.Http, device.Sent);

        // Nothing reaches the device now (the live route would: it asks the device), so its shard stops it.
        await WaitUntilAsync(() => Task.FromResult(metrics.DevicesResident == 0), TimeSpan.FromSeconds(30));
        Assert.True(metrics.Snapshots > 0);

        // Its next record starts it again from its snapshot: the open windows still count the first 40.
        await device.SendAsync(25);
        Assert.All(await WaitForCountAsync(node.Http, device.Sent), r => Assert.Equal(65, r.Count));
    }

    /// <summary>
    /// One device's events, event time two minutes ahead of the wall clock (well inside the allowed future
    /// skew): the idle rule moves watermarks up to the wall clock only, so the windows holding them stay open.
    /// </summary>
    private sealed class DeviceSender(string bootstrap) : IDisposable
    {
        private readonly IProducer<string, string> _producer = new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = bootstrap }).Build();
        private readonly long _time = DateTimeOffset.UtcNow.AddMinutes(2).ToUnixTimeMilliseconds() / Slide * Slide;

        public int Sent { get; private set; }

        public async Task SendAsync(int count)
        {
            for (var i = 0; i < count; i++, Sent++)
            {
                var value = string.Create(CultureInfo.InvariantCulture, $$"""{"deviceId":"{{Device}}","timestamp":{{_time + Sent}},"cpuUsage":{{Sent % 100}}.5}""");
                await _producer.ProduceAsync(ProductTopics.Input, new Message<string, string> { Key = Device, Value = value });
            }
        }

        public void Dispose() => _producer.Dispose();
    }

    /// <summary>Polls the live route until every open window counts <paramref name="count"/> events (ready, consumed).</summary>
    private static async Task<List<LiveRow>> WaitForCountAsync(HttpClient http, int count)
    {
        var rows = new List<LiveRow>();
        await WaitUntilAsync(async () =>
        {
            using var answer = await http.GetAsync($"/metrics/devices/{Uri.EscapeDataString(Device)}/live");
            if (answer.StatusCode is HttpStatusCode.ServiceUnavailable or HttpStatusCode.NotFound) return false;
            answer.EnsureSuccessStatusCode();
            rows = (await answer.Content.ReadFromJsonAsync<List<LiveRow>>(Json))!;
            return rows.Count > 0 && rows.All(r => r.Count == count);
        }, TimeSpan.FromSeconds(60));
        return rows;
    }

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private sealed record LiveRow(string DeviceId, string WindowEnd, double Min, double Max, long Count, int Revision, bool Final, bool Provisional);
}
