using System.Diagnostics;
using System.Globalization;
using System.Net;
using HdrHistogram;
using MetricsCollector.Api;
using MetricsCollector.Core.Windows;
using MetricsCollector.ReadSide;
using MetricsCollector.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MetricsCollector.Benchmarks;

/// <summary>
/// An open-loop HTTP load against the API on a seeded SQLite store: requests leave on a fixed schedule
/// whatever the server does, and each latency runs from the request's scheduled start, not its actual
/// one, so a stall shows up in every request it delays (coordinated omission, as wrk2 corrects it).
/// BenchmarkDotNet measures code in a loop; this measures what a client of the node sees.
/// </summary>
internal static class HttpLoad
{
    private const long Minute = 60_000;
    private const long FirstWindowEnd = 1_764_307_800_000; // 2025-11-28T05:30:00Z

    public static async Task<int> RunAsync(string[] args)
    {
        var options = Options.Parse(args);
        var path = Path.Combine(Path.GetTempPath(), $"mc-http-load-{Environment.ProcessId}.db");
        try
        {
            await using var store = new SqliteResultStore($"Data Source={path}");
            var latestWindowEnd = await SeedAsync(store, options);
            await using var app = await StartApiAsync(store, await LatestTopN.LoadAsync(store, latestWindowEnd));
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();

            var random = new Random(42);
            Route[] routes =
            [
                new("/metrics/top/10", _ => "/metrics/top/10"),
                new("/metrics/top/10?windowEnd=…", _ => $"/metrics/top/10?windowEnd={latestWindowEnd - Minute}"),
                new("/metrics/devices/{id}", r => $"/metrics/devices/device-{r.Next(options.Devices)}"),
            ];
            var clients = Enumerable.Range(0, options.Clients).Select(_ => NewClient(address)).ToArray();
            try
            {
                Console.Error.WriteLine($"warm-up: {options.WarmupSeconds} s at {options.Rate} req/s");
                await FireAsync(clients, routes, random, options.Rate, TimeSpan.FromSeconds(options.WarmupSeconds), NewHistogram());
                foreach (var route in routes)
                {
                    route.Reset();
                }

                // The seed's garbage is the loader's, not the server's: collect it before the clock starts.
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect();
                var lateness = NewHistogram();
                var gcBefore = GcStats.Now();

                Console.Error.WriteLine($"measuring: {options.Seconds} s at {options.Rate} req/s");
                var elapsed = await FireAsync(clients, routes, random, options.Rate, TimeSpan.FromSeconds(options.Seconds), lateness);
                PrintReport(routes, elapsed, options, lateness, GcStats.Now() - gcBefore);
                return routes.Sum(r => r.Errors) == 0 ? 0 : 1;
            }
            finally
            {
                foreach (var client in clients)
                {
                    client.Dispose();
                }

                await app.StopAsync();
            }
        }
        finally
        {
            foreach (var suffix in new[] { "", "-wal", "-shm" })
            {
                File.Delete(path + suffix);
            }
        }
    }

    /// <summary>Microseconds up to a minute, three significant digits.</summary>
    private static LongConcurrentHistogram NewHistogram() => new(1, 60_000_000, 3);

    private static async Task<long> SeedAsync(SqliteResultStore store, Options options)
    {
        await store.EnsureSchemaAsync();
        var random = new Random(7);
        var watch = Stopwatch.StartNew();
        var windowEnd = FirstWindowEnd;
        for (var w = 0; w < options.Windows; w++)
        {
            windowEnd = FirstWindowEnd + w * Minute;
            var rows = new WindowResult[options.Devices];
            for (var d = 0; d < rows.Length; d++)
            {
                var p50 = Math.Round(random.NextDouble() * 60, 1);
                rows[d] = new WindowResult(
                    $"device-{d}", windowEnd - 30 * Minute, windowEnd, p50, p50 + 20, p50 + 30, p50 + 35, 0.1, p50 + 39, p50 + 2,
                    Count: 1800, Revision: 1, Final: true, LastUpdated: windowEnd + 5 * Minute, Bounds: PercentileBounds.Within(0.1, p50 + 39));
            }

            await store.UpsertAsync(SinglePart.Of(rows));
        }

        var total = (long)options.Devices * options.Windows;
        Console.Error.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"seeded {total:N0} rows in {watch.Elapsed.TotalSeconds:F1} s ({total / watch.Elapsed.TotalSeconds:N0} rows/s upserted)"));
        return windowEnd;
    }

    private static async Task<WebApplication> StartApiAsync(IResultStore store, ILatestTopN latest)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(options => options.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton(latest);
        builder.Services.AddMetricsApi();
        var app = builder.Build();
        app.UseMetricsApi();
        await app.StartAsync();
        return app;
    }

    private static HttpClient NewClient(string address) =>
        new(new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue, PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
        {
            BaseAddress = new Uri(address),
        };

    /// <summary>
    /// Sends request i at start + i/rate, round-robin over routes and clients, without waiting for earlier
    /// answers. A dedicated thread paces the requests: Task.Delay and Thread.Sleep wake 1 to 2 ms late on
    /// Linux, which, timed from the schedule, would count the loader's own oversleep as server latency.
    /// Within 2 ms of the next send the thread yields instead of sleeping, giving the CPU to any runnable
    /// server thread.
    /// </summary>
    private static async Task<TimeSpan> FireAsync(
        HttpClient[] clients, Route[] routes, Random random, int rate, TimeSpan duration, LongConcurrentHistogram lateness)
    {
        var total = (long)(rate * duration.TotalSeconds);
        var inFlight = new Task[total];
        var start = Stopwatch.GetTimestamp();
        var nearby = Stopwatch.Frequency / 500;
        var pacer = new Thread(() =>
        {
            for (long i = 0; i < total; i++)
            {
                var due = start + i * Stopwatch.Frequency / rate;
                for (var now = Stopwatch.GetTimestamp(); now < due; now = Stopwatch.GetTimestamp())
                {
                    if (due - now > nearby)
                    {
                        Thread.Sleep(1);
                    }
                    else
                    {
                        Thread.Yield();
                    }
                }

                var route = routes[i % routes.Length];
                lateness.RecordValue((long)Stopwatch.GetElapsedTime(due).TotalMicroseconds);
                inFlight[i] = SendAsync(clients[i % clients.Length], route, route.Path(random), due);
            }
        })
        {
            IsBackground = true,
            Name = "http-load pacer",
        };
        pacer.Start();
        await Task.Run(pacer.Join);
        await Task.WhenAll(inFlight);
        return Stopwatch.GetElapsedTime(start);
    }

    private static async Task SendAsync(HttpClient client, Route route, string path, long scheduled)
    {
        var sent = Stopwatch.GetTimestamp();
        try
        {
            using var response = await client.GetAsync(new Uri(path, UriKind.Relative));
            await response.Content.ReadAsByteArrayAsync();
            if (response.StatusCode != HttpStatusCode.OK)
            {
                Interlocked.Increment(ref route.Errors);
            }
        }
        catch (HttpRequestException)
        {
            Interlocked.Increment(ref route.Errors);
        }

        route.Latency.RecordValue((long)Stopwatch.GetElapsedTime(scheduled).TotalMicroseconds);
        route.Uncorrected.RecordValue((long)Stopwatch.GetElapsedTime(sent).TotalMicroseconds);
    }

    private static void PrintReport(Route[] routes, TimeSpan elapsed, Options options, LongConcurrentHistogram lateness, GcStats gc)
    {
        static string Ms(long micros) => (micros / 1000.0).ToString("F2", CultureInfo.InvariantCulture);

        var sent = routes.Sum(r => r.Latency.TotalCount);
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"{sent:N0} requests in {elapsed.TotalSeconds:F1} s ({sent / elapsed.TotalSeconds:N0} req/s; target {options.Rate}), "
            + $"{options.Clients} clients, {options.Devices:N0} devices × {options.Windows} windows, server GC {System.Runtime.GCSettings.IsServerGC}"));
        Console.WriteLine();
        Console.WriteLine("Latency from each request's scheduled start (coordinated omission corrected):");
        Console.WriteLine();
        Console.WriteLine("| route | requests | errors | p50 ms | p99 ms | p99.9 ms | max ms | uncorrected p99 ms |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var route in routes)
        {
            var h = route.Latency;
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"| `{route.Name}` | {h.TotalCount:N0} | {route.Errors} | {Ms(h.GetValueAtPercentile(50))} | {Ms(h.GetValueAtPercentile(99))} | {Ms(h.GetValueAtPercentile(99.9))} | {Ms(h.GetMaxValue())} | {Ms(route.Uncorrected.GetValueAtPercentile(99))} |"));
        }

        Console.WriteLine();
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"Sends behind schedule: p99 {Ms(lateness.GetValueAtPercentile(99))} ms, max {Ms(lateness.GetMaxValue())} ms. "
            + $"GC while measuring: {gc.Gen0} gen0, {gc.Gen1} gen1, {gc.Gen2} gen2, {gc.Pause.TotalMilliseconds:F0} ms paused, "
            + $"{gc.Allocated / (double)sent / 1024:F1} KiB allocated per request (loader and server)."));
    }

    /// <summary>Process-wide GC counters: the loader shares the process, so they tell whether a tail is a pause.</summary>
    private readonly record struct GcStats(int Gen0, int Gen1, int Gen2, TimeSpan Pause, long Allocated)
    {
        public static GcStats Now() => new(
            GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration(), GC.GetTotalAllocatedBytes());

        public static GcStats operator -(GcStats a, GcStats b) =>
            new(a.Gen0 - b.Gen0, a.Gen1 - b.Gen1, a.Gen2 - b.Gen2, a.Pause - b.Pause, a.Allocated - b.Allocated);
    }

    private sealed class Route(string name, Func<Random, string> path)
    {
        public LongConcurrentHistogram Latency { get; private set; } = NewHistogram();

        /// <summary>From the actual send: what a closed-loop tool would report, for comparison.</summary>
        public LongConcurrentHistogram Uncorrected { get; private set; } = NewHistogram();

        public long Errors;

        public string Name => name;

        public string Path(Random random) => path(random);

        public void Reset()
        {
            Latency = NewHistogram();
            Uncorrected = NewHistogram();
            Errors = 0;
        }
    }

    /// <summary>Stands in for the top-N singleton as it will behave: the ranking is held, not computed per request.</summary>
    private sealed class LatestTopN(Dictionary<RankBy, WindowResult[]> ranked) : ILatestTopN
    {
        public static async Task<LatestTopN> LoadAsync(SqliteResultStore store, long windowEnd)
        {
            var ranked = new Dictionary<RankBy, WindowResult[]>();
            foreach (var by in Enum.GetValues<RankBy>())
            {
                ranked[by] = [.. await store.TopAsync(windowEnd, by, 1000)];
            }

            return new LatestTopN(ranked);
        }

        public Task<IReadOnlyList<WindowResult>> TopAsync(int n, RankBy by, CancellationToken ct) =>
            Task.FromResult<IReadOnlyList<WindowResult>>(ranked[by][..Math.Min(n, ranked[by].Length)]);
    }

    private sealed record Options(int Rate, int Seconds, int WarmupSeconds, int Devices, int Windows, int Clients)
    {
        public static Options Parse(string[] args)
        {
            var values = new Dictionary<string, int>
            {
                ["--rate"] = 2000, ["--seconds"] = 20, ["--warmup"] = 5, ["--devices"] = 10_000, ["--windows"] = 30, ["--clients"] = 8,
            };
            for (var i = 0; i < args.Length; i += 2)
            {
                if (i + 1 == args.Length || !values.ContainsKey(args[i])
                    || !int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var value) || value <= 0)
                {
                    throw new ArgumentException($"usage: http-load [{string.Join(" N] [", values.Keys)} N]; got '{string.Join(' ', args)}'");
                }

                values[args[i]] = value;
            }

            return new Options(values["--rate"], values["--seconds"], values["--warmup"], values["--devices"], values["--windows"], values["--clients"]);
        }
    }
}
