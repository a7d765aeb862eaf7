using System.CommandLine;
using System.Diagnostics;

namespace MetricsCollector.Benchmarks;

/// <summary>
/// `memory [devices,devices,…] [minutes] [--every seconds]`: what the core keeps per active device.
/// The product's generator (1 event/s per device by default, 5 % out of order, 1 % late, 0.5 % too late, 0.2 % invalid,
/// 2- and 3-decimal readings) feeds 30m/1m windows (bound and allowed lateness 5 min) through the
/// decoder, one watermark and the device timers, as a partition does, for long enough that
/// windows close and every device holds its steady number of panes. Then the retained heap of the
/// devices' windows (the drop in <see cref="GC.GetTotalMemory(bool)"/> when they are released)
/// and the size of their snapshots.
/// </summary>
internal static class MemoryBenchmark
{
    public static Command Command()
    {
        var devices = Arguments.CommaSeparated("devices", [1_000, 10_000], "Active devices, one measurement for each count.");
        var minutes = Arguments.Positive("minutes", 45.0, "Minutes of event time fed to the devices.");
        // The scale target's devices send every 10 s: panes of 6 readings, not 60, so a device's
        // fixed costs weigh more than at the nominal 1 event/s.
        var every = Arguments.PositiveOption("--every", 1.0, "Seconds of event time between a device's events.");
        var command = new Command("memory", "Retained heap and snapshot size per active device.") { devices, minutes, every };
        command.SetAction(parse => Run(parse.GetValue(devices)!, parse.GetValue(minutes), parse.GetValue(every)));
        return command;
    }

    private static int Run(int[] deviceCounts, double minutes, double every)
    {
        Console.WriteLine($"30m/1m windows, bound and lateness 5 min, 1 event every {every:0.###} s per device for {minutes:0.#} min of event time");
        Console.WriteLine();
        Console.WriteLine("| devices | events | panes/device | bytes/device (retained heap) | bytes/snapshot | feed s |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|");
        foreach (var devices in deviceCounts)
        {
            Measure(devices, TimeSpan.FromMinutes(minutes), 1 / every);
        }

        return 0;
    }

    private static void Measure(int deviceCount, TimeSpan duration, double perSecond)
    {
        var stream = new ProductStream(_ => { });
        long events = 0;

        var clock = Stopwatch.StartNew();
        foreach (var planned in ProductStream.Plan(deviceCount, perSecond, duration, invalidFraction: 0.002))
        {
            if (stream.Feed(planned.Value) is not null) events++;
        }
        var feed = clock.Elapsed;

        var panes = stream.Devices.Values.Sum(d => (long)d.PaneCount);
        var kept = stream.Devices.Values.ToArray();
        stream.Devices.Clear();
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
