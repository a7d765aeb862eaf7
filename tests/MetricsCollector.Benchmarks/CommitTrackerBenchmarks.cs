using BenchmarkDotNet.Attributes;
using MetricsCollector.Core.Time;
using MetricsCollector.Partitions;

namespace MetricsCollector.Benchmarks;

/// <summary>
/// A partition handing over: each of its devices snapshots once, in no particular order, and after each
/// snapshot the partition asks whether its commit may move (and saves when it may). The devices' messages
/// were read at offsets in device order, with a checkpoint every 100 records, and every device waits on a
/// timer, as between two window ends. The whole hand-over, for a partition of <see cref="Devices"/> devices.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(1)]
public class CommitTrackerBenchmarks
{
    private static readonly IReadOnlyList<SideMark> Marks = [];

    private CommitTracker? _tracker;
    private string[] _snapshotOrder = [];

    [Params(1_000, 10_000)]
    public int Devices { get; set; }

    [IterationSetup]
    public void Setup()
    {
        var tracker = new CommitTracker(new PartitionProgress(0, 1_000, TimerDictionary.Empty, "cluster") { SideMarks = Marks });
        tracker.TakeCheckpoint(1_000, Marks);
        var devices = Enumerable.Range(0, Devices).Select(i => $"device-{i}").ToArray();
        for (var i = 0; i < devices.Length; i++)
        {
            tracker.Read(i);
            tracker.Sent(devices[i], 1, position: i, closesAbove: long.MaxValue);
            tracker.SetTimer(devices[i], 60_000 + (i % 30) * 1_000);
            if (i % 100 == 99) tracker.TakeCheckpoint(1_000, Marks);
        }

        var due = tracker.Due(null, 1_000);
        if (due is not null) tracker.MarkSaved(due);
        _snapshotOrder = devices;
        new Random(7).Shuffle(_snapshotOrder);
        _tracker = tracker;
    }

    [Benchmark]
    public int HandOver()
    {
        var tracker = _tracker!;
        var saves = 0;
        foreach (var device in _snapshotOrder)
        {
            tracker.Covered(device, 1, appliedOffset: 0);
            if (tracker.Due(null, 1_000) is not { } due) continue;
            tracker.MarkSaved(due);
            saves++;
        }

        return saves;
    }
}
