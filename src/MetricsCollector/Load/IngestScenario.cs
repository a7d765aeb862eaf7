using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using MetricsCollector.Kafka;
using MetricsCollector.Kafka.Generation;

namespace MetricsCollector.Load;

/// <summary>What `load ingest` is asked to do.</summary>
public sealed record IngestLoadOptions(string Bootstrap, Uri Api, int Devices, double Rate, TimeSpan Duration)
{
    public string Topic { get; init; } = ProductTopics.Input;

    public int Seed { get; init; } = 42;

    /// <summary>Devices of the run's own whose events are followed until the API shows them.</summary>
    public int Probes { get; init; } = 5;

    /// <summary>Each probe device sends one event this often.</summary>
    public TimeSpan ProbeInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the API is asked about each probe device with events not yet seen.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How long after producing ends the run waits for the last probe events to show.</summary>
    public TimeSpan VisibleTimeout { get; init; } = TimeSpan.FromMinutes(10);
}

/// <summary>
/// `load ingest`: events into Kafka at a steady rate with the generator (paced, keyed by device, murmur2),
/// and alongside them a few probe devices of the run's own, one event each per probe interval, whose
/// events are followed through the API (<see cref="ProbeTracker"/>): event → row visible is what a user of
/// the pipeline waits for, including the window firing, which waits for the watermark to pass the window's
/// end (at least the out-of-orderness bound after the event).
/// </summary>
public static class IngestScenario
{
    private const int MaxHistoryPages = 10;

    public static async Task<LoadResult> RunAsync(IngestLoadOptions options, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var http = new HttpClient { BaseAddress = options.Api, Timeout = TimeSpan.FromSeconds(10) };
        await CheckReachableAsync(http, ct);
        CheckTopic(options);

        var produce = LatencyHistogram.New();
        var visible = LatencyHistogram.New();
        var progress = new GenerationProgress { OnDelivered = latency => LatencyHistogram.Record(produce, latency) };
        var run = Guid.NewGuid().ToString("N")[..8];
        var tracker = new ProbeTracker(Enumerable.Range(0, options.Probes).Select(i => $"load-probe-{run}-{i}"));
        var plan = new EventPlan(new GeneratorOptions { Devices = options.Devices, Rate = options.Rate, Duration = options.Duration, Seed = options.Seed });
        var config = new ProducerConfig { BootstrapServers = options.Bootstrap };
        var clock = Stopwatch.StartNew();
        var producing = true;
        long probeFailures = 0;
        long pollFailures = 0;
        GenerationReport generated;
        TimeSpan producedFor;

        string Line() => producing
            ? string.Create(CultureInfo.InvariantCulture, $"ingest {clock.Elapsed.TotalSeconds:0}/{options.Duration.TotalSeconds:0} s  sent {progress.Produced:N0} ({progress.Produced / Math.Max(clock.Elapsed.TotalSeconds, 0.001):0}/s)  acked {progress.Delivered:N0}  errors {progress.Failed + Interlocked.Read(ref probeFailures):N0}  probes seen {tracker.Seen}/{tracker.Sent}  visible {LatencyHistogram.Brief(visible)}")
            : string.Create(CultureInfo.InvariantCulture, $"waiting for rows {clock.Elapsed.TotalSeconds:0} s  probes seen {tracker.Seen}/{tracker.Sent}  visible {LatencyHistogram.Brief(visible)}");

        await using (ConsoleProgress.Start(Line))
        {
            using var stopPolling = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var polling = PollAsync(http, tracker, visible, options.PollInterval, () => Interlocked.Increment(ref pollFailures), stopPolling.Token);
            var probing = ProbeAsync(config, options, tracker, () => Interlocked.Increment(ref probeFailures), ct);
            generated = await EventGenerator.RunAsync(plan, config, options.Topic, paced: true, progress, ct);
            await probing;
            producedFor = clock.Elapsed;
            producing = false;

            var deadline = clock.Elapsed + options.VisibleTimeout;
            while (tracker.Pending > 0 && clock.Elapsed < deadline && !ct.IsCancellationRequested)
            {
                await Task.Delay(options.PollInterval, CancellationToken.None);
            }

            await stopPolling.CancelAsync();
            await polling;
        }

        var failures = new List<string>();
        if (tracker.Pending > 0)
        {
            failures.Add($"{tracker.Pending:N0} of {tracker.Sent:N0} probe events were not visible through the API within {Durations.Format(options.VisibleTimeout)} after producing ended");
        }

        var errors = generated.Failed + Interlocked.Read(ref probeFailures);
        return new LoadResult(
            "ingest",
            clock.Elapsed,
            [
                new("visible", "from a probe event's produce call until the API served a row that counts it", visible),
                new("produce", "from each generated event's produce call to the broker's acknowledgement", produce),
            ],
            generated.Total + errors,
            errors,
            generated.EventsPerSecond,
            [
                new("target", $"Kafka {options.Bootstrap}, topic {options.Topic}; API {options.Api}"),
                new("schedule", string.Create(CultureInfo.InvariantCulture, $"{options.Rate:0.###} events/s over {options.Devices:N0} devices for {Durations.Format(options.Duration)}, seed {options.Seed}")),
                new("produced", string.Create(CultureInfo.InvariantCulture, $"{generated.Total:N0} events acknowledged in {producedFor.TotalSeconds:0.0} s ({generated.EventsPerSecond:0.0}/s), {errors:N0} failed")),
                new("probes", string.Create(CultureInfo.InvariantCulture, $"{options.Probes} devices (load-probe-{run}-*), one event each every {Durations.Format(options.ProbeInterval)}: {tracker.Sent:N0} sent, {tracker.Seen:N0} seen; the API polled every {Durations.Format(options.PollInterval)} ({Interlocked.Read(ref pollFailures):N0} failed polls)")),
            ],
            [],
            failures);
    }

    private static async Task CheckReachableAsync(HttpClient http, CancellationToken ct)
    {
        try
        {
            using var response = await http.GetAsync(new Uri("/health/live", UriKind.Relative), ct);
            if (!response.IsSuccessStatusCode)
            {
                throw new LoadSetupException($"{http.BaseAddress}health/live answered {(int)response.StatusCode}");
            }
        }
        catch (HttpRequestException e)
        {
            throw new LoadSetupException($"cannot reach {http.BaseAddress}: {e.Message}");
        }
    }

    /// <summary>Fails at once, in one line, when the broker cannot be reached or lacks the topic, rather than after a run of undelivered events.</summary>
    private static void CheckTopic(IngestLoadOptions options)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = options.Bootstrap })
            .SetLogHandler((_, _) => { })
            .Build();
        try
        {
            var topic = admin.GetMetadata(options.Topic, TimeSpan.FromSeconds(10)).Topics.SingleOrDefault();
            if (topic is null || topic.Error.IsError || topic.Partitions.Count == 0)
            {
                throw new LoadSetupException($"Kafka at {options.Bootstrap} has no topic {options.Topic}{(topic?.Error.IsError == true ? $" ({topic.Error.Reason})" : "")}");
            }
        }
        catch (KafkaException e)
        {
            throw new LoadSetupException($"cannot reach Kafka at {options.Bootstrap}: {e.Error.Reason}");
        }
    }

    /// <summary>Every probe interval until the duration is over, one event per probe device, at the wall clock's time.</summary>
    private static async Task ProbeAsync(ProducerConfig config, IngestLoadOptions options, ProbeTracker tracker, Action failed, CancellationToken ct)
    {
        var effective = new ProducerConfig(new Dictionary<string, string>(config)) { EnableIdempotence = true, Partitioner = Partitioner.Murmur2Random, LingerMs = 0 };
        using var producer = new ProducerBuilder<byte[], byte[]>(effective).Build();
        using var timer = new PeriodicTimer(options.ProbeInterval);
        var clock = Stopwatch.StartNew();
        var last = long.MinValue;
        try
        {
            do
            {
                // The wall clock may step back; the probes' event times must not, or visibility could not be judged.
                var now = Math.Max(last, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
                last = now;
                foreach (var device in tracker.Devices)
                {
                    tracker.Produced(device, now, DateTimeOffset.UtcNow);
                    var value = Encoding.UTF8.GetBytes($$"""{"deviceId":"{{device}}","timestamp":{{now}},"cpuUsage":50.0}""");
                    producer.Produce(options.Topic, new Message<byte[], byte[]> { Key = Encoding.UTF8.GetBytes(device), Value = value }, report =>
                    {
                        if (report.Error.IsError) failed();
                    });
                }
            }
            while (clock.Elapsed + options.ProbeInterval <= options.Duration && await timer.WaitForNextTickAsync(ct));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Stopped early: what was sent is still followed.
        }

        for (var undelivered = producer.Flush(TimeSpan.FromSeconds(30)); undelivered > 0; undelivered--)
        {
            failed();
        }
    }

    /// <summary>Asks the API about each probe device that has events not yet seen, every poll interval, until stopped.</summary>
    private static async Task PollAsync(
        HttpClient http, ProbeTracker tracker, HdrHistogram.HistogramBase visible, TimeSpan interval, Action failed, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                foreach (var device in tracker.Devices)
                {
                    if (tracker.OldestPending(device) is not { } oldest)
                    {
                        continue;
                    }

                    try
                    {
                        var rows = await HistoryAsync(http, device, oldest + 1, ct);
                        foreach (var latency in tracker.Observe(device, rows, DateTimeOffset.UtcNow))
                        {
                            LatencyHistogram.Record(visible, latency);
                        }
                    }
                    catch (Exception e) when (e is HttpRequestException or JsonException or TaskCanceledException && !ct.IsCancellationRequested)
                    {
                        failed();
                    }
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The run is over.
        }
    }

    /// <summary>The device's rows whose window ends at or after <paramref name="from"/>, following the cursor; none while the device is unknown (404).</summary>
    private static async Task<List<CountedWindow>> HistoryAsync(HttpClient http, string device, long from, CancellationToken ct)
    {
        var rows = new List<CountedWindow>();
        string? cursor = null;
        for (var page = 0; page < MaxHistoryPages; page++)
        {
            var path = $"/metrics/devices/{Uri.EscapeDataString(device)}/history?from={from}&limit=1000{(cursor is null ? "" : $"&cursor={Uri.EscapeDataString(cursor)}")}";
            using var response = await http.GetAsync(new Uri(path, UriKind.Relative), ct);
            if (response.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                return rows;
            }

            response.EnsureSuccessStatusCode();
            using var json = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(ct), cancellationToken: ct);
            foreach (var row in json.RootElement.GetProperty("items").EnumerateArray())
            {
                rows.Add(new CountedWindow(EpochMs(row, "windowStart"), EpochMs(row, "windowEnd"), row.GetProperty("count").GetInt64()));
            }

            cursor = json.RootElement.GetProperty("nextCursor").GetString();
            if (cursor is null)
            {
                break;
            }
        }

        return rows;
    }

    private static long EpochMs(JsonElement row, string name) =>
        DateTimeOffset.Parse(row.GetProperty(name).GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal).ToUnixTimeMilliseconds();
}
