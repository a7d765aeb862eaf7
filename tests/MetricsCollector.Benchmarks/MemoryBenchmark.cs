using System.Diagnostics;
using System.Globalization;
using MetricsCollector.Core.Events;
using MetricsCollector.Core.Time;
using MetricsCollector.Core.Windows;
using MetricsCollector.Kafka.Generation;

namespace MetricsCollector.Benchmarks;

/// <summary>
/// `memory [devices,devices,…] [minutes]`: what the core keeps per active device. The product's
/// generator (1 event/s per device, 5 % out of order, 1 % late, 0.5 % too late, 0.2 % invalid,
/// 2- and 3-decimal readings) feeds 30m/1m windows (bound and allowed lateness 5 min) through the
/// decoder, one watermark and the device timers, as a partition does, for long enough that
/// windows close and every device holds its steady number of panes. Then the retained heap of the
/// devices' windows (the drop in <see cref="GC.GetTotalMemory(bool)"/> when they are released)
/// and the size of their snapshots.
/// </summary>
internal static class MemoryBenchmark
{
    private static readonly TimeSpan Size = TimeSpan.FromMinutes(30);
    private static readonly TimeSpan Slide = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan Bound = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan Lateness = TimeSpan.FromMinutes(5);
    private static readonly WindowSettings Settings = WindowSettings.Create(Size, Slide, Lateness);

    public static int Run(string[] args)
    {
        var deviceCounts = args.Length > 1
            ? args[1].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray()
            : [1_000, 10_000];
        var minutes = args.Length > 2 ? double.Parse(args[2], CultureInfo.InvariantCulture) : 45;

        Console.WriteLine($"30m/1m windows, bound and lateness 5 min, 1 event/s per device for {minutes:0.#} min of event time");
        Console.WriteLine();
        Console.WriteLine("| devices | events | panes/device | bytes/device (retained heap) | bytes/snapshot | feed s |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|");
        foreach (var devices in deviceCounts)
        {
            Measure(devices, TimeSpan.FromMinutes(minutes));
        }

        return 0;
    }

    private static void Measure(int deviceCount, TimeSpan duration)
    {
        var plan = new EventPlan(new GeneratorOptions
        {
            Devices = deviceCount, Rate = deviceCount, Duration = duration, Seed = 5,
            EventTimeStart = DateTimeOffset.FromUnixTimeMilliseconds(1_764_307_200_000),
            OutOfOrderFraction = 0.05, LateFraction = 0.01, TooLateFraction = 0.005, InvalidFraction = 0.002,
            MaxOutOfOrderness = Bound, AllowedLateness = Lateness, WindowSize = Size, WindowSlide = Slide,
        });
        var decoder = new EventDecoder(new DeviceIdPool());
        var watermark = new Watermark((long)Bound.TotalMilliseconds, 30_000, TimeProvider.System);
        var timers = new EventTimeTimers<string>();
        var devices = new Dictionary<string, DeviceWindows>();
        long events = 0;

        var clock = Stopwatch.StartNew();
        foreach (var planned in plan)
        {
            if (!decoder.TryDecode(planned.Value, out var evt, out _)) continue;
            events++;
            var judgedBy = watermark.Observe(evt.Timestamp);
            if (!devices.TryGetValue(evt.DeviceId, out var device))
                devices[evt.DeviceId] = device = new DeviceWindows(evt.DeviceId, 0, Settings);
            device.Add(evt.Timestamp, evt.CpuUsage, judgedBy);
            device.TakeResults(0);
            timers.Set(evt.DeviceId, device.NextWakeUp());
            foreach (var id in timers.TakeDue(watermark.Current))
            {
                var due = devices[id];
                due.Advance(watermark.Current);
                due.TakeResults(0);
                timers.Set(id, due.NextWakeUp());
            }
        }
        var feed = clock.Elapsed;

        var panes = devices.Values.Sum(d => (long)d.PaneCount);
        var kept = devices.Values.ToArray();
        devices.Clear();
        var held = GC.GetTotalMemory(forceFullCollection: true);
        // Snapshots only now: taking one merges each pane's unsorted buffer, which changes the
        // state just measured.
        var snapshotBytes = kept.Average(d => (double)d.ToSnapshot().Length);
        kept = null;
        var released = GC.GetTotalMemory(forceFullCollection: true);
        Console.WriteLine(
            $"| {deviceCount:N0} | {events:N0} | {(double)panes / deviceCount:0.0} | {(double)(held - released) / deviceCount:N0} | {snapshotBytes:N0} | {feed.TotalSeconds:0} |");
    }
}
