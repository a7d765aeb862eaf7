using System.Text;
using BenchmarkDotNet.Attributes;
using MetricsCollector.Core.Digests;
using MetricsCollector.Core.Events;
using MetricsCollector.Core.Time;
using MetricsCollector.Core.Windows;

namespace MetricsCollector.Benchmarks;

/// <summary>
/// The core's hot path on one core: raw record bytes → decode → watermark → per-device windows →
/// rows, for 10k devices with 30m/1m windows, against two baselines doing the same work the way
/// Flink's window operator does, inserting each event into every one of its 30 windows: with
/// accumulators on the heap (Flink's heap state backend), and with each accumulator read and
/// written back in serialized form on every update (Flink's RocksDB state backend).
/// </summary>
[MemoryDiagnoser]
public class CoreThroughputBenchmarks
{
    private const int Events = 2_000_000;
    private const long Bound = 5 * 60_000;
    private static readonly WindowSettings Settings = WindowSettings.Create(TimeSpan.FromMinutes(30), TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5));

    private byte[][] _records = [];

    /// <summary>
    /// "10000/5000": 10k devices each sending every 5 s of event time (12 values a pane, a window
    /// build every 12 events: the hard case for panes); "2000/1000": 2k devices each sending every
    /// second (60 values a pane, the product's nominal rate). Both span 16–17 minutes of event time,
    /// so the watermark passes a dozen window ends per device.
    /// </summary>
    [Params("10000/5000", "2000/1000")]
    public string DevicesAndIntervalMs { get; set; } = "10000/5000";

    /// <summary>Up to 20 s out of order, with 1 % late by 5–10 minutes (many of those too late).</summary>
    [GlobalSetup]
    public void Setup()
    {
        var shape = DevicesAndIntervalMs.Split('/');
        var devices = int.Parse(shape[0], System.Globalization.CultureInfo.InvariantCulture);
        var intervalMs = double.Parse(shape[1], System.Globalization.CultureInfo.InvariantCulture);
        var random = new Random(7);
        var start = 1_764_307_200_000L;
        var perEventMs = intervalMs / devices;
        _records = new byte[Events][];
        for (var i = 0; i < Events; i++)
        {
            var clock = start + (long)(i * perEventMs);
            var lag = random.Next(100) == 0 ? random.Next(300_000, 600_000) : random.Next(20_000);
            var value = Math.Round(Math.Clamp(55 + 25 * (random.NextDouble() - 0.5) * 2, 0, 100), 2);
            _records[i] = Encoding.UTF8.GetBytes(
                $$"""{"deviceId":"device-{{random.Next(devices)}}","timestamp":{{clock - lag}},"cpuUsage":{{value.ToString(System.Globalization.CultureInfo.InvariantCulture)}}}""");
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Events)]
    public long Panes() => Run(new PaneEngine());

    [Benchmark(OperationsPerInvoke = Events)]
    public long PerWindowHeap() => Run(new PerWindowEngine(serialized: false));

    /// <summary>Two orders of magnitude slower, so it runs on the first tenth of the stream.</summary>
    [Benchmark(OperationsPerInvoke = Events / 10)]
    public long PerWindowSerialized() => Run(new PerWindowEngine(serialized: true), Events / 10);

    private long Run(IEngine engine, int count = Events)
    {
        var decoder = new EventDecoder(new DeviceIdPool());
        var watermark = new Watermark(Bound, 30_000, TimeProvider.System);
        long rows = 0;
        for (var i = 0; i < count; i++)
        {
            var record = _records[i];
            if (!decoder.TryDecode(record, out var evt, out _)) continue;
            var judgedBy = watermark.Observe(evt.Timestamp);
            if (Settings.IsTooLate(evt.Timestamp, judgedBy)) continue;
            rows += engine.Add(evt, judgedBy);
            rows += engine.Wake(watermark.Current);
        }
        return rows;
    }

    private interface IEngine
    {
        int Add(CpuEvent evt, long judgedBy);

        int Wake(long watermark);
    }

    /// <summary>The product's way: one digest per pane, windows merged when they fire, timers per device.</summary>
    private sealed class PaneEngine : IEngine
    {
        private readonly Dictionary<string, DeviceWindows> _devices = new();
        private readonly EventTimeTimers<string> _timers = new();

        public int Add(CpuEvent evt, long judgedBy)
        {
            if (!_devices.TryGetValue(evt.DeviceId, out var device))
                _devices[evt.DeviceId] = device = new DeviceWindows(evt.DeviceId, 0, Settings);
            device.Add(evt.Timestamp, evt.CpuUsage, judgedBy);
            _timers.Set(evt.DeviceId, device.NextWakeUp());
            return device.TakeResults(0).Count;
        }

        public int Wake(long watermark)
        {
            var rows = 0;
            foreach (var id in _timers.TakeDue(watermark))
            {
                var device = _devices[id];
                device.Advance(watermark);
                rows += device.TakeResults(0).Count;
                _timers.Set(id, device.NextWakeUp());
            }
            return rows;
        }
    }

    /// <summary>Flink's way: every event goes into the accumulator of each of its size/slide windows.</summary>
    private sealed class PerWindowEngine(bool serialized) : IEngine
    {
        private readonly Dictionary<string, SortedList<long, Window>> _devices = new();
        private readonly EventTimeTimers<(string, long)> _timers = new();
        private readonly WindowSpec _spec = Settings.Spec;

        public int Add(CpuEvent evt, long judgedBy)
        {
            if (!_devices.TryGetValue(evt.DeviceId, out var windows))
                _devices[evt.DeviceId] = windows = new SortedList<long, Window>();
            var rows = 0;
            var pane = _spec.PaneOf(evt.Timestamp);
            for (var end = _spec.FirstEndOf(pane); end <= _spec.LastEndOf(pane); end += _spec.Slide)
            {
                var phase = Settings.PhaseOf(end, judgedBy);
                if (phase == WindowPhase.Closed) continue;
                if (!windows.TryGetValue(end, out var window))
                {
                    windows[end] = window = new Window(serialized);
                    _timers.Set((evt.DeviceId, end), end);
                }
                window.Add(evt.CpuUsage);
                if (phase == WindowPhase.Fired) rows += window.Emit();
            }
            return rows;
        }

        public int Wake(long watermark)
        {
            var rows = 0;
            foreach (var (device, end) in _timers.TakeDue(watermark))
            {
                var windows = _devices[device];
                if (!windows.TryGetValue(end, out var window)) continue;
                if (watermark < Settings.CloseTimeOf(end))
                {
                    rows += window.Emit();
                    _timers.Set((device, end), Settings.CloseTimeOf(end));
                }
                else
                {
                    rows += window.Emit();
                    windows.Remove(end);
                }
            }
            return rows;
        }

        private sealed class Window(bool serialized)
        {
            private readonly TDigest _digest = new();
            private byte[]? _bytes;

            public void Add(double value)
            {
                if (!serialized)
                {
                    _digest.Add(value);
                    return;
                }
                var digest = _bytes is null ? new TDigest() : TDigest.FromBytes(_bytes);
                digest.Add(value);
                _bytes = digest.ToBytes();
            }

            public int Emit()
            {
                // The same figures a row of the product carries, bounds included.
                var digest = serialized ? TDigest.FromBytes(_bytes!) : _digest;
                Span<ValueRange> bounds = stackalloc ValueRange[4];
                digest.QuantileBounds([0.5, 0.9, 0.95, 0.99], bounds);
                var figures = digest.Quantile(0.5) + digest.Quantile(0.9) + digest.Quantile(0.95) + digest.Quantile(0.99)
                    + digest.Min + digest.Max + digest.Mean + bounds[3].High;
                return figures >= 0 ? 1 : 0;
            }
        }
    }
}
