using MetricsCollector.Core.Time;
using MetricsCollector.Core.Windows;

namespace MetricsCollector.Core.Tests.Windows;

/// <summary>
/// The core pieces wired the way a partition stream and its device actors use them: a watermark
/// and an event-time timer queue per partition, one <see cref="DeviceWindows"/> per device, rows
/// collected as they are taken (the last row per window wins, as in the store).
/// </summary>
internal sealed class WindowPipelineHarness
{
    private readonly WindowSettings _settings;
    private readonly long _bound;
    private readonly ManualClock _clock = new();
    private readonly Dictionary<int, (Watermark Watermark, EventTimeTimers<string> Timers)> _partitions = new();
    private readonly Dictionary<string, DeviceWindows> _devices = new();

    public WindowPipelineHarness(WindowSettings settings, long maxOutOfOrdernessMs)
    {
        _settings = settings;
        _bound = maxOutOfOrdernessMs;
    }

    public Dictionary<(string Device, long End), WindowResult> Rows { get; } = new();
    public List<(int Partition, long Position)> TooLate { get; } = new();
    public List<WindowResult> AllRowsTaken { get; } = new();

    public IEnumerable<DeviceWindows> Devices => _devices.Values;

    public void Record(int partition, long position, string device, long time, double value)
    {
        var (watermark, timers) = PartitionOf(partition);
        var judgedBy = watermark.Observe(time);
        var windows = DeviceOf(device);
        if (windows.Add(time, value, judgedBy) == EventTiming.TooLate) TooLate.Add((partition, position));
        timers.Set(device, windows.NextWakeUp());
        WakeDue(watermark, timers);
    }

    /// <summary>Every partition goes idle long enough for its watermark to pass every window.</summary>
    public void FinishAll(long farFuture)
    {
        _clock.Now = farFuture;
        foreach (var (watermark, timers) in _partitions.Values)
        {
            watermark.AdvanceIfIdle();
            WakeDue(watermark, timers);
        }
    }

    public void TakeAll(long now)
    {
        foreach (var device in _devices.Values) Take(device, now);
    }

    public void Take(string device, long now) => Take(DeviceOf(device), now);

    /// <summary>Replaces a device by its restored snapshot, as a restarted actor would be.</summary>
    public void Restart(string device, long now)
    {
        var windows = DeviceOf(device);
        Take(windows, now);
        _devices[device] = DeviceWindows.FromSnapshot(device, _settings, windows.ToSnapshot());
    }

    public IEnumerable<string> DeviceIds => _devices.Keys;

    private void Take(DeviceWindows device, long now)
    {
        foreach (var row in device.TakeResults(now))
        {
            AllRowsTaken.Add(row);
            Rows[(row.DeviceId, row.WindowEnd)] = row;
        }
    }

    private void WakeDue(Watermark watermark, EventTimeTimers<string> timers)
    {
        foreach (var device in timers.TakeDue(watermark.Current))
        {
            var windows = DeviceOf(device);
            windows.Advance(watermark.Current);
            timers.Set(device, windows.NextWakeUp());
        }
    }

    private (Watermark, EventTimeTimers<string>) PartitionOf(int partition)
    {
        if (!_partitions.TryGetValue(partition, out var p))
            _partitions[partition] = p = (new Watermark(_bound, idleTimeoutMs: 30_000, _clock), new EventTimeTimers<string>());
        return p;
    }

    private DeviceWindows DeviceOf(string device)
    {
        if (!_devices.TryGetValue(device, out var windows)) _devices[device] = windows = new DeviceWindows(device, _settings);
        return windows;
    }
}

/// <summary>A clock the test moves by hand.</summary>
internal sealed class ManualClock : TimeProvider
{
    public long Now { get; set; }

    public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(Now);
}
