using MetricsCollector.Core.Events;
using MetricsCollector.Core.Time;
using MetricsCollector.Core.Windows;
using MetricsCollector.Kafka.Generation;

namespace MetricsCollector.Benchmarks;

/// <summary>
/// The product's generator and default windows (30m/1m, bound and allowed lateness 5 min), and
/// one partition's records driven through the core as a partition drives it: decoder,
/// watermark, device timers and one <see cref="DeviceWindows"/> per device, every row taken as
/// soon as there is one. What the memory and bounds commands measure.
/// </summary>
internal sealed class ProductStream
{
    public static readonly TimeSpan Size = TimeSpan.FromMinutes(30);
    public static readonly TimeSpan Slide = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan Bound = TimeSpan.FromMinutes(5);
    public static readonly TimeSpan Lateness = TimeSpan.FromMinutes(5);
    public static readonly WindowSettings Settings = WindowSettings.Create(Size, Slide, Lateness);
    public static readonly DateTimeOffset Start = DateTimeOffset.FromUnixTimeMilliseconds(1_764_307_200_000);

    private readonly EventDecoder _decoder = new(new DeviceIdPool());
    private readonly EventTimeTimers<string> _timers = new();
    private readonly ManualClock _clock = new();
    private readonly Watermark _watermark;
    private readonly Action<WindowPart> _onRow;
    private long _latest;

    public ProductStream(Action<WindowPart> onRow)
    {
        _onRow = onRow;
        _watermark = new Watermark((long)Bound.TotalMilliseconds, 30_000, _clock);
    }

    public Dictionary<string, DeviceWindows> Devices { get; } = new();

    /// <summary>
    /// The generator's records for <paramref name="devices"/> devices at <paramref name="perSecond"/>
    /// events a second each: 5 % out of order by up to the bound, 1 % late, 0.5 % too late, and
    /// <paramref name="invalidFraction"/> not valid; readings of 2 or 3 decimals.
    /// </summary>
    public static EventPlan Plan(int devices, double perSecond, TimeSpan duration, double invalidFraction) =>
        new(new GeneratorOptions
        {
            Devices = devices, Rate = devices * perSecond, Duration = duration, Seed = 5, EventTimeStart = Start,
            OutOfOrderFraction = 0.05, LateFraction = 0.01, TooLateFraction = 0.005, InvalidFraction = invalidFraction,
            MaxOutOfOrderness = Bound, AllowedLateness = Lateness, WindowSize = Size, WindowSlide = Slide,
        });

    /// <summary>Decodes and applies one record value; the event, or null when the record is not valid.</summary>
    public CpuEvent? Feed(byte[] value)
    {
        if (!_decoder.TryDecode(value, out var evt, out _)) return null;
        _latest = Math.Max(_latest, evt.Timestamp);
        var judgedBy = _watermark.Observe(evt.Timestamp);
        if (!Devices.TryGetValue(evt.DeviceId, out var device))
            Devices[evt.DeviceId] = device = new DeviceWindows(evt.DeviceId, 0, Settings);
        device.Add(evt.Timestamp, evt.CpuUsage, judgedBy);
        Take(device);
        _timers.Set(evt.DeviceId, device.NextWakeUp());
        Wake();
        return evt;
    }

    /// <summary>The partition goes idle: its watermark passes every window, so every row is final.</summary>
    public void Finish()
    {
        _clock.Now = _latest + (long)(Size + Lateness + Bound).TotalMilliseconds + 60_000;
        if (_watermark.IdleTarget() is { } idle) _watermark.JumpTo(idle);
        Wake();
    }

    private void Take(DeviceWindows device)
    {
        foreach (var row in device.TakeResults(0)) _onRow(row);
    }

    private void Wake()
    {
        foreach (var id in _timers.TakeDue(_watermark.Current))
        {
            var due = Devices[id];
            due.Advance(_watermark.Current);
            Take(due);
            _timers.Set(id, due.NextWakeUp());
        }
    }

    /// <summary>Wall-clock time stands still while a stream is fed: only <see cref="Finish"/> moves it, to make the partition idle.</summary>
    private sealed class ManualClock : TimeProvider
    {
        public long Now { get; set; }

        public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(Now);
    }
}
