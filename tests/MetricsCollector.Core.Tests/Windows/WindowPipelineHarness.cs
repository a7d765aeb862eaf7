using MetricsCollector.Core.Time;
using MetricsCollector.Core.Windows;

namespace MetricsCollector.Core.Tests.Windows;

/// <summary>
/// The core pieces wired the way a partition stream and its device actors use them: a watermark
/// and an event-time timer queue per partition, one <see cref="DeviceWindows"/> per device and
/// partition, parts collected as they are taken (the last part per window and partition wins, as
/// in the store) and each window's row merged from its parts, as the store does.
/// </summary>
internal sealed class WindowPipelineHarness
{
    private readonly WindowSettings _settings;
    private readonly long _bound;
    private readonly ManualClock _clock = new();
    private readonly Dictionary<int, (Watermark Watermark, EventTimeTimers<string> Timers)> _partitions = new();
    private readonly Dictionary<(string Device, int Partition), DeviceWindows> _devices = new();
    private readonly Dictionary<(string Device, long End), SortedDictionary<int, WindowPart>> _parts = new();

    public WindowPipelineHarness(WindowSettings settings, long maxOutOfOrdernessMs)
    {
        _settings = settings;
        _bound = maxOutOfOrdernessMs;
    }

    /// <summary>Each window's row: the merge of the latest part of every partition that holds it.</summary>
    public Dictionary<(string Device, long End), WindowResult> Rows =>
        _parts.ToDictionary(w => w.Key, w => WindowPart.Merge(w.Value.Values.ToList()));

    /// <summary>The latest part of every partition of every window, as the store keeps them.</summary>
    public IEnumerable<WindowPart> Parts => _parts.Values.SelectMany(p => p.Values);

    public List<(int Partition, long Position)> TooLate { get; } = new();

    public IEnumerable<DeviceWindows> Devices => _devices.Values;

    public void Record(int partition, long position, string device, long time, double value)
    {
        var (watermark, timers) = PartitionOf(partition);
        var judgedBy = watermark.Observe(time);
        // Judged by the partition, as RecordJudge does: a too-late event never reaches its device.
        if (_settings.IsTooLate(time, judgedBy))
        {
            TooLate.Add((partition, position));
        }
        else
        {
            var windows = DeviceOf(device, partition);
            windows.Add(time, value, judgedBy);
            timers.Set(device, windows.NextWakeUp());
        }
        WakeDue(partition, watermark, timers);
    }

    /// <summary>Every partition goes idle long enough for its watermark to pass every window.</summary>
    public void FinishAll(long farFuture)
    {
        _clock.Now = farFuture;
        foreach (var (partition, (watermark, timers)) in _partitions)
        {
            if (watermark.IdleTarget() is { } target) watermark.JumpTo(target);
            WakeDue(partition, watermark, timers);
        }
    }

    public void TakeAll(long now)
    {
        foreach (var device in _devices.Values) Take(device, now);
    }

    /// <summary>Replaces each of a device's windows by its restored snapshot, as restarted actors would be.</summary>
    public void Restart(string device, long now)
    {
        foreach (var key in _devices.Keys.Where(k => k.Device == device).ToList())
        {
            var windows = _devices[key];
            Take(windows, now);
            _devices[key] = DeviceWindows.FromSnapshot(device, key.Partition, _settings, windows.ToSnapshot());
        }
    }

    private void Take(DeviceWindows device, long now)
    {
        foreach (var part in device.TakeResults(now))
        {
            var key = (part.Row.DeviceId, part.Row.WindowEnd);
            if (!_parts.TryGetValue(key, out var parts)) _parts[key] = parts = new SortedDictionary<int, WindowPart>();
            parts[part.Partition] = part;
        }
    }

    private void WakeDue(int partition, Watermark watermark, EventTimeTimers<string> timers)
    {
        foreach (var device in timers.TakeDue(watermark.Current))
        {
            var windows = DeviceOf(device, partition);
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

    private DeviceWindows DeviceOf(string device, int partition)
    {
        if (!_devices.TryGetValue((device, partition), out var windows))
            _devices[(device, partition)] = windows = new DeviceWindows(device, partition, _settings);
        return windows;
    }
}

/// <summary>A clock the test moves by hand.</summary>
internal sealed class ManualClock : TimeProvider
{
    public long Now { get; set; }

    public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeMilliseconds(Now);
}
