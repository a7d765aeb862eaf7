using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using HdrHistogram;

namespace MetricsCollector.Load;

/// <summary>What `load api` is asked to do.</summary>
public sealed record ApiLoadOptions(Uri Url, double Rate, TimeSpan Duration, RouteMix Mix)
{
    /// <summary>Load at the same rate before measuring, thrown away (JIT, connection pools, caches).</summary>
    public TimeSpan Warmup { get; init; }

    /// <summary>A request not answered within this counts as an error (<c>timeout</c>), with its latency as far as it got.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    public int Seed { get; init; } = 42;
}

/// <summary>
/// `load api`: requests at a fixed rate over the result routes of a running node or cluster, open loop
/// (<see cref="OpenLoop"/>), with parameters a client would send: device ids and windows the API itself
/// serves (learned from it before the run), every ranking figure, pages of history.
/// </summary>
public static class ApiScenario
{
    private static readonly string[] Figures = ["", "p50", "p90", "p99", "max", "mean"];

    public static async Task<LoadResult> RunAsync(ApiLoadOptions options, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        using var http = new HttpClient(new SocketsHttpHandler
        {
            // Open loop: a request never waits for a free connection, or the loader itself would be the queue.
            MaxConnectionsPerServer = int.MaxValue,
            PooledConnectionLifetime = System.Threading.Timeout.InfiniteTimeSpan,
        })
        {
            BaseAddress = options.Url,
            Timeout = options.Timeout,
        };
        var targets = await ApiTargets.LearnAsync(http, ct);
        var random = new Random(options.Seed);
        if (options.Warmup > TimeSpan.Zero)
        {
            await FireAsync(http, targets, random, options, options.Warmup, "warm-up", ct);
        }

        var run = await FireAsync(http, targets, random, options, options.Duration, "api", ct);
        var latency = LatencyHistogram.New();
        var uncorrected = LatencyHistogram.New();
        foreach (var route in run.Routes.Values)
        {
            latency.Add(route.Latency);
            uncorrected.Add(route.Uncorrected);
        }

        var requests = latency.TotalCount;
        var errors = run.Routes.Values.Sum(r => r.Errors);
        return new LoadResult(
            "api",
            run.Elapsed,
            [
                new("latency", "from each request's scheduled time to its answer", latency),
                new("uncorrected", "from each request's actual send (what a closed-loop tool reports)", uncorrected),
                new("send-lag", "how late the loader sent each request against its schedule", run.Behind),
            ],
            requests,
            errors,
            requests / run.Elapsed.TotalSeconds,
            [
                new("target", options.Url.ToString()),
                new("schedule", string.Create(CultureInfo.InvariantCulture, $"{options.Rate:0.###} requests/s for {Durations.Format(options.Duration)} (warm-up {Durations.Format(options.Warmup)}), mix {options.Mix}")),
                new("parameters", $"{targets.DeviceIds.Count} device ids and {targets.WindowEnds.Count} windows learned from the API"),
                new("requests", string.Create(CultureInfo.InvariantCulture, $"{requests:N0} in {run.Elapsed.TotalSeconds:0.0} s ({requests / run.Elapsed.TotalSeconds:0.0}/s), {errors:N0} errors")),
            ],
            [
                new ReportTable(
                    "Routes",
                    ["route", "requests", "errors", "p50", "p99", "max", "answers"],
                    run.Routes.Values.OrderBy(r => r.Name, StringComparer.Ordinal).Select(r => (IReadOnlyList<string>)
                    [
                        r.Name,
                        r.Latency.TotalCount.ToString("N0", CultureInfo.InvariantCulture),
                        r.Errors.ToString("N0", CultureInfo.InvariantCulture),
                        LatencyHistogram.Format(r.Latency.GetValueAtPercentile(50)),
                        LatencyHistogram.Format(r.Latency.GetValueAtPercentile(99)),
                        LatencyHistogram.Format(r.Latency.GetMaxValue()),
                        string.Join(", ", r.Answers.OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => $"{a.Key}×{a.Value}")),
                    ]).ToList()),
            ],
            []);
    }

    private static async Task<Run> FireAsync(
        HttpClient http, ApiTargets targets, Random random, ApiLoadOptions options, TimeSpan duration, string phase, CancellationToken ct)
    {
        var run = new Run();
        var total = (long)Math.Round(options.Rate * duration.TotalSeconds);
        var clock = Stopwatch.StartNew();
        long sent = 0;
        var all = LatencyHistogram.New();
        await using (ConsoleProgress.Start(() => string.Create(
            CultureInfo.InvariantCulture,
            $"{phase} {clock.Elapsed.TotalSeconds:0}/{duration.TotalSeconds:0} s  sent {Interlocked.Read(ref sent):N0} ({Interlocked.Read(ref sent) / Math.Max(clock.Elapsed.TotalSeconds, 0.001):0}/s)  answered {all.TotalCount:N0}  errors {run.Routes.Values.Sum(r => r.Errors):N0}  {LatencyHistogram.Brief(all)}")))
        {
            run.Elapsed = await OpenLoop.RunAsync(
                options.Rate,
                total,
                (_, due) =>
                {
                    Interlocked.Increment(ref sent);
                    var name = options.Mix.Pick(random);
                    var route = run.Routes.GetOrAdd(name, n => new RouteStats(n));
                    return SendAsync(http, route, targets.Path(name, random), due, all);
                },
                run.Behind,
                ct);
        }

        return run;
    }

    private static async Task SendAsync(HttpClient http, RouteStats route, string path, long due, HistogramBase all)
    {
        // Off the pacing thread at once: even a request's synchronous start must not delay the next one's schedule.
        await Task.Yield();
        var sent = Stopwatch.GetTimestamp();
        string answer;
        try
        {
            using var response = await http.GetAsync(new Uri(path, UriKind.Relative), HttpCompletionOption.ResponseContentRead);
            answer = ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture);
            if (!response.IsSuccessStatusCode)
            {
                Interlocked.Increment(ref route.Errors);
            }
        }
        catch (TaskCanceledException)
        {
            answer = "timeout";
            Interlocked.Increment(ref route.Errors);
        }
        catch (HttpRequestException e)
        {
            answer = e.HttpRequestError.ToString();
            Interlocked.Increment(ref route.Errors);
        }

        var latency = Stopwatch.GetElapsedTime(due);
        LatencyHistogram.Record(route.Latency, latency);
        LatencyHistogram.Record(all, latency);
        LatencyHistogram.Record(route.Uncorrected, Stopwatch.GetElapsedTime(sent));
        route.Answers.AddOrUpdate(answer, 1, (_, n) => n + 1);
    }

    private sealed class Run
    {
        public ConcurrentDictionary<string, RouteStats> Routes { get; } = new(StringComparer.Ordinal);

        public LongConcurrentHistogram Behind { get; } = LatencyHistogram.New();

        public TimeSpan Elapsed { get; set; }
    }

    private sealed class RouteStats(string name)
    {
        public long Errors;

        public string Name => name;

        public LongConcurrentHistogram Latency { get; } = LatencyHistogram.New();

        public LongConcurrentHistogram Uncorrected { get; } = LatencyHistogram.New();

        /// <summary>Status codes, and <c>timeout</c> or the connection error for requests with no answer.</summary>
        public ConcurrentDictionary<string, long> Answers { get; } = new(StringComparer.Ordinal);
    }

    /// <summary>Device ids and window ends the API serves, so that requests ask for what exists.</summary>
    private sealed record ApiTargets(IReadOnlyList<string> DeviceIds, IReadOnlyList<string> WindowEnds)
    {
        public static async Task<ApiTargets> LearnAsync(HttpClient http, CancellationToken ct)
        {
            var top = await GetRowsAsync(http, "/metrics/top/1000", ct);
            if (top.Count == 0)
            {
                throw new LoadSetupException($"{http.BaseAddress}metrics/top/1000 serves no rows yet: start the load once a window has fired");
            }

            var devices = top.Select(r => r.GetProperty("deviceId").GetString()!).ToList();
            using var history = await GetJsonAsync(http, $"/metrics/devices/{Uri.EscapeDataString(devices[0])}/history?limit=1000", ct);
            var windows = history.RootElement.GetProperty("items").EnumerateArray()
                .Select(r => r.GetProperty("windowEnd").GetString()!)
                .ToList();
            return new ApiTargets(devices, windows);
        }

        /// <summary>A path for <paramref name="route"/> with parameters drawn from what exists.</summary>
        public string Path(string route, Random random)
        {
            var device = Uri.EscapeDataString(DeviceIds[random.Next(DeviceIds.Count)]);
            var window = Uri.EscapeDataString(WindowEnds[random.Next(WindowEnds.Count)]);
            return route switch
            {
                "top" => $"/metrics/top/{(random.Next(4) == 0 ? 100 : 10)}{Figures[random.Next(Figures.Length)] switch { "" => "", var by => $"?by={by}" }}",
                "window" => $"/metrics/top/10?windowEnd={window}",
                "device" => $"/metrics/devices/{device}",
                _ => random.Next(2) == 0 ? $"/metrics/devices/{device}/history?limit=20" : $"/metrics/devices/{device}/history?from={window}&limit=100",
            };
        }

        private static async Task<List<JsonElement>> GetRowsAsync(HttpClient http, string path, CancellationToken ct)
        {
            using var json = await GetJsonAsync(http, path, ct);
            return json.RootElement.EnumerateArray().Select(e => e.Clone()).ToList();
        }

        private static async Task<JsonDocument> GetJsonAsync(HttpClient http, string path, CancellationToken ct)
        {
            try
            {
                using var response = await http.GetAsync(new Uri(path, UriKind.Relative), ct);
                if (!response.IsSuccessStatusCode)
                {
                    throw new LoadSetupException($"{http.BaseAddress}{path.TrimStart('/')} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct)}");
                }

                return await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(ct), cancellationToken: ct);
            }
            catch (HttpRequestException e)
            {
                throw new LoadSetupException($"cannot reach {http.BaseAddress}: {e.Message}");
            }
        }
    }
}

/// <summary>A load run that cannot start (the target is unreachable, serves nothing yet): one line for the user, exit code 2.</summary>
public sealed class LoadSetupException(string message) : Exception(message);
