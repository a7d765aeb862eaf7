using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using MetricsCollector.Api;
using MetricsCollector.Core.Windows;
using MetricsCollector.Load;
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
/// The API under the product's open-loop `load api` (<see cref="ApiScenario"/>), in-process, on a seeded
/// SQLite store whose size the options set. BenchmarkDotNet measures code in a loop; this measures what a
/// client of the node sees.
/// </summary>
internal static class HttpLoad
{
    private const long Minute = 60_000;
    private const long FirstWindowEnd = 1_764_307_800_000; // 2025-11-28T05:30:00Z

    public static Command Command()
    {
        var rate = Arguments.PositiveOption("--rate", 2000, "Requests per second, open loop.");
        var seconds = Arguments.PositiveOption("--seconds", 20, "Seconds measured.");
        var warmup = Arguments.PositiveOption("--warmup", 5, "Seconds of load before measuring, not counted.");
        var devices = Arguments.PositiveOption("--devices", 10_000, "Devices seeded in the store.");
        var windows = Arguments.PositiveOption("--windows", 30, "Windows seeded per device, a minute apart.");
        var command = new Command("http-load", "The REST API under the product's open-loop `load api`, in process, on a seeded SQLite store.")
        {
            rate, seconds, warmup, devices, windows,
        };
        command.SetAction((parse, _) => RunAsync(new Options(
            parse.GetValue(rate), parse.GetValue(seconds), parse.GetValue(warmup), parse.GetValue(devices), parse.GetValue(windows))));
        return command;
    }

    private static async Task<int> RunAsync(Options options)
    {
        var path = Path.Combine(Path.GetTempPath(), $"mc-http-load-{Environment.ProcessId}.db");
        try
        {
            await using var store = new SqliteResultStore($"Data Source={path}");
            var latestWindowEnd = await SeedAsync(store, options);
            await using var app = await StartApiAsync(store, await LatestTopN.LoadAsync(store, latestWindowEnd));
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();

            var url = new Uri(address);
            Console.Error.WriteLine($"warm-up: {options.WarmupSeconds} s at {options.Rate} req/s");
            await ApiScenario.RunAsync(Load(url, options, options.WarmupSeconds), CancellationToken.None);

            // The seed's garbage is the loader's, not the server's: collect it before the clock starts.
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            var gcBefore = GcStats.Now();
            Console.Error.WriteLine($"measuring: {options.Seconds} s at {options.Rate} req/s");
            var result = await ApiScenario.RunAsync(Load(url, options, options.Seconds), CancellationToken.None);
            var gc = GcStats.Now() - gcBefore;
            Console.WriteLine(LoadReport.Summary(result, []));
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"{options.Devices:N0} devices × {options.Windows} windows seeded; server GC {System.Runtime.GCSettings.IsServerGC}. "
                + $"GC while measuring: {gc.Gen0} gen0, {gc.Gen1} gen1, {gc.Gen2} gen2, {gc.Pause.TotalMilliseconds:F0} ms paused, "
                + $"{gc.Allocated / (double)result.Operations / 1024:F1} KiB allocated per request (loader and server)."));
            await app.StopAsync();
            return result.Errors == 0 ? 0 : 1;
        }
        finally
        {
            foreach (var suffix in new[] { "", "-wal", "-shm" })
            {
                File.Delete(path + suffix);
            }
        }
    }

    /// <summary>
    /// The product's `load api` on the three routes measured before it existed: the latest window's top-N,
    /// an earlier window's top-N (from the store's index) and a device's latest row.
    /// </summary>
    private static ApiLoadOptions Load(Uri url, Options options, int seconds) =>
        new(url, options.Rate, TimeSpan.FromSeconds(seconds), RouteMix.Parse("top=1,window=1,device=1"));

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

    internal static async Task<WebApplication> StartApiAsync(IResultStore store, ILatestTopN latest, Action<IServiceCollection>? more = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(options => options.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton(latest);
        more?.Invoke(builder.Services);
        builder.Services.AddMetricsApi();
        var app = builder.Build();
        app.UseMetricsApi();
        await app.StartAsync();
        return app;
    }

    /// <summary>Process-wide GC counters: the loader shares the process, so they tell whether a tail is a pause.</summary>
    private readonly record struct GcStats(int Gen0, int Gen1, int Gen2, TimeSpan Pause, long Allocated)
    {
        public static GcStats Now() => new(
            GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration(), GC.GetTotalAllocatedBytes());

        public static GcStats operator -(GcStats a, GcStats b) =>
            new(a.Gen0 - b.Gen0, a.Gen1 - b.Gen1, a.Gen2 - b.Gen2, a.Pause - b.Pause, a.Allocated - b.Allocated);
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

    private sealed record Options(int Rate, int Seconds, int WarmupSeconds, int Devices, int Windows);
}
