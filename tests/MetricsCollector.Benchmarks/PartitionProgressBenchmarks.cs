using BenchmarkDotNet.Attributes;
using MetricsCollector.Partitions;

namespace MetricsCollector.Benchmarks;

/// <summary>
/// A partition between two window ends, as at 100,000 devices on a node of 10 partitions: each of its
/// <see cref="Devices"/> devices waits on a timer, records flow and devices snapshot, and once a second it
/// commits and its progress is encoded for the store; once a second the API reads every partition's stored
/// watermark back.
/// </summary>
[MemoryDiagnoser]
public class PartitionProgressBenchmarks
{
    private static readonly IReadOnlyList<SideMark> Marks = [new SideMark("iot.device.events.dlq", 0, 0)];

    private CommitTracker? _tracker;
    private string[] _devices = [];
    private long _offset;
    private string _stored = "";

    [Params(1_000, 10_000)]
    public int Devices { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var tracker = new CommitTracker(new PartitionProgress(0, 1_000, TimerDictionary.Empty, "cluster") { SideMarks = Marks });
        _devices = Enumerable.Range(0, Devices).Select(i => $"device-{i}").ToArray();
        foreach (var device in _devices) tracker.SetTimer(device, 1_800_000);
        tracker.TakeCheckpoint(1_000, Marks);
        _tracker = tracker;
        _stored = Commit();
    }

    /// <summary>A record read, the device it went to snapshotted, a checkpoint, and the commit with its encoding.</summary>
    [Benchmark]
    public string Commit()
    {
        var tracker = _tracker!;
        var device = _devices[(int)(_offset % _devices.Length)];
        tracker.Read(_offset);
        tracker.Sent(device, _offset + 1, position: _offset, closesAbove: long.MaxValue);
        tracker.Covered(device, _offset + 1, appliedOffset: _offset);
        _offset++;
        tracker.TakeCheckpoint(1_000, Marks);
        var due = tracker.Due(null, 1_000) ?? throw new InvalidOperationException("nothing due");
        tracker.MarkSaved(due);
        return due.Progress.Encode();
    }

    /// <summary>What the API reads of a stored progress: how far the partition's watermark is stored.</summary>
    [Benchmark]
    public long StoredWatermark() => PartitionProgress.DecodeWithoutTimers(_stored).FinalThrough;

    /// <summary>The whole progress, as a partition reads it when it starts.</summary>
    [Benchmark]
    public int Decode() => PartitionProgress.Decode(_stored).Timers.Count;
}
