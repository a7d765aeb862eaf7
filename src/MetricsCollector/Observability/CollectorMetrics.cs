using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Akka.Cluster;
using Confluent.Kafka;
using HdrHistogram;
using MetricsCollector.Core.Events;
using MetricsCollector.Kafka.Consumer;

namespace MetricsCollector.Observability;

/// <summary>
/// The node's own metrics, as OpenTelemetry instruments of the meter <see cref="MeterName"/>
/// (exposed at <c>/metrics</c> by the OpenTelemetry Prometheus exporter, see <see cref="Telemetry"/>).
/// The hot path only bumps interlocked fields, once per batch: the counters are observable
/// instruments that read those fields when a reader collects, so nothing on the path of an
/// event allocates or takes a lock, and the in-process readers (tests, benchmarks) read the
/// same numbers the exposition shows.
/// </summary>
public sealed class CollectorMetrics : IDisposable
{
    public const string MeterName = "MetricsCollector";

    /// <summary>Buckets of the delay histograms, in seconds: a row is expected within tens of milliseconds, a slow store takes seconds.</summary>
    private static readonly double[] DelayBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

    private readonly Meter _meter;
    private readonly Histogram<double> _fireToStoreSeconds;
    private readonly Histogram<double> _eventToVisibleSeconds;

    private long _recordsIn;
    private long _devicesResident;
    private long _eventsIn;
    private long _eventsApplied;
    private long _tooLate;
    private long _lateEvents;
    private long _windowsFired;
    private long _rowsWritten;
    private long _snapshots;
    private readonly long[] _busyNanoseconds = new long[Enum.GetValues<BusyActor>().Length];
    private long _snapshotBytes;
    private long _snapshotFailures;
    private long _storeFailures;
    private long _logsReplaced;
    private readonly ConcurrentDictionary<string, long> _deadLettered = new();

    // From a window's first row being computed (right after the watermark reached its end) to the
    // row being committed in the store: what a reader of the API waits for. Milliseconds; kept
    // beside the OTel histogram for in-process quantiles (FireToStore), which OTel cannot answer.
    private readonly LongConcurrentHistogram _fireToStore = new(1, 3_600_000, 3);
    private readonly ConcurrentDictionary<int, long> _watermarks = new();
    private readonly ConcurrentDictionary<int, long> _committed = new();
    private readonly ConcurrentDictionary<int, long> _read = new();
    private readonly ConcurrentDictionary<int, bool> _heldBack = new();
    private volatile Func<int, long?> _logEnd = _ => null;
    private volatile Akka.Cluster.Cluster? _cluster;

    /// <param name="meters">
    /// The node's meter factory: a node's OpenTelemetry reader listens only to meters of its own
    /// container, so nodes sharing a process (tests) keep their numbers apart. Without one, a
    /// free-standing meter (actor tests, benchmarks).
    /// </param>
    public CollectorMetrics(IMeterFactory? meters = null)
    {
        _meter = meters?.Create(MeterName) ?? new Meter(MeterName);
        // Every reason from zero, so that a rate over them exists before the first invalid record.
        foreach (var reason in Enum.GetValues<RejectReason>().Where(r => r != RejectReason.None)) _deadLettered[reason.ToHeaderValue()] = 0;
        Counter("mc_records_in", "Kafka records consumed from the input topic.", () => RecordsIn);
        Counter("mc_events_in", "Valid events decoded.", () => EventsIn);
        Counter("mc_events_applied", "Events applied by device actors (replays skipped).", () => EventsApplied);
        _meter.CreateObservableCounter("mc_dead_lettered", DeadLetteredByReason, description: "Invalid records sent to the dead-letter topic, by reason.");
        Counter("mc_too_late", "Events too late for every window, sent to the too-late topic.", () => TooLate);
        Counter("mc_late_events", "Events that revised at least one fired window.", () => Interlocked.Read(ref _lateEvents));
        Counter("mc_windows_fired", "Windows fired with at least one event.", () => WindowsFired);
        Counter("mc_rows_written", "Result rows upserted into the read-side store.", () => RowsWritten);
        Counter("mc_store_failures", "Failed read-side writes (retried).", () => Interlocked.Read(ref _storeFailures));
        Counter("mc_partition_logs_replaced", "Partitions whose log was found replaced under their checkpoint (topic recreated, offsets reset) and read anew.", () => Interlocked.Read(ref _logsReplaced));
        Counter("mc_snapshots", "Device snapshots saved.", () => Snapshots);
        Counter("mc_snapshot_bytes", "Bytes of device snapshots saved.", () => SnapshotBytes);
        Counter("mc_snapshot_failures", "Device snapshots that failed (retried).", () => Interlocked.Read(ref _snapshotFailures));
        _meter.CreateObservableCounter("mc_actor_cpu", BusyByActor, unit: "s",
            description: ThreadCpu.Measured
                ? "CPU time the node's actors spent handling messages, by kind of actor: where its CPU goes, stage by stage."
                : "Wall time the node's actors spent handling messages, by kind of actor (this platform has no thread CPU clock).");

        _fireToStoreSeconds = _meter.CreateHistogram(
            "mc_fire_to_store", "s", "Delay from a window firing (its first row computed) to that row being stored.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DelayBuckets });
        _eventToVisibleSeconds = _meter.CreateHistogram(
            "mc_event_to_visible", "s",
            "Freshness of new rows: from the Kafka timestamp of the newest record a device had received when it fired a window to that row being stored.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DelayBuckets });

        PartitionGauge("mc_partition_watermark_ms", "Event-time watermark per assigned partition (epoch ms).",
            s => s.Watermark == Core.Time.Watermark.Start ? null : s.Watermark);
        PartitionGauge("mc_partition_committed_offset", "Last committed offset per assigned partition.", s => s.Committed < 0 ? null : s.Committed);
        PartitionGauge("mc_partition_log_end_offset", "End of the partition's log as the broker last reported it to the consumer.", s => s.LogEnd);
        PartitionGauge("mc_partition_lag", "Consumer lag per assigned partition: log end minus committed offset.", s => s.Lag);
        _meter.CreateObservableGauge("mc_devices_resident", () => DevicesResident,
            description: "Device actors in this node's memory: a device idle for devices.passivate-after leaves it and comes back with its next record.");
        _meter.CreateObservableGauge("mc_records_behind", RecordsBehind, description: "Records this node has yet to commit over all its partitions (the sum of their lag).");
        _meter.CreateObservableGauge("mc_partitions_held_back", HeldBack, description: "1 for an assigned partition held back by a failing side topic, else 0.");
        _meter.CreateObservableGauge("mc_cluster_members", Members, description: "Cluster members by status, as this node sees them.");
        _meter.CreateObservableGauge("mc_cluster_unreachable_members", Unreachable, description: "Cluster members this node sees as unreachable.");
    }

    public long RecordsIn => Interlocked.Read(ref _recordsIn);
    public long DevicesResident => Interlocked.Read(ref _devicesResident);
    public long EventsIn => Interlocked.Read(ref _eventsIn);
    public long EventsApplied => Interlocked.Read(ref _eventsApplied);
    public long TooLate => Interlocked.Read(ref _tooLate);
    public long WindowsFired => Interlocked.Read(ref _windowsFired);
    public long RowsWritten => Interlocked.Read(ref _rowsWritten);
    public long Snapshots => Interlocked.Read(ref _snapshots);
    public long SnapshotBytes => Interlocked.Read(ref _snapshotBytes);
    public long DeadLettered => _deadLettered.Values.Sum();

    public void AddRecordsIn(long n) => Interlocked.Add(ref _recordsIn, n);
    public void DeviceStarted() => Interlocked.Increment(ref _devicesResident);
    public void DeviceStopped() => Interlocked.Decrement(ref _devicesResident);
    public void AddEventsIn(long n) => Interlocked.Add(ref _eventsIn, n);
    public void AddEventsApplied(long n) => Interlocked.Add(ref _eventsApplied, n);

    public void RecordFireToStore(long milliseconds)
    {
        _fireToStore.RecordValue(Math.Clamp(milliseconds, 1, 3_600_000));
        _fireToStoreSeconds.Record(Math.Max(milliseconds, 0) / 1000.0);
    }

    /// <summary>The fire-to-store delay at quantile <paramref name="q"/> (0..1), in milliseconds; 0 before any window fired.</summary>
    public long FireToStore(double q) => _fireToStore.TotalCount == 0 ? 0 : _fireToStore.GetValueAtPercentile(q * 100);

    /// <summary>
    /// A newly fired row stored at <paramref name="storedAt"/> (epoch ms), fired by a device whose newest
    /// record had the Kafka timestamp <paramref name="newestRecordTimestamp"/>: how far the rows a reader
    /// sees trail what producers wrote, the window's own wait for its end aside.
    /// </summary>
    public void RecordEventToVisible(long newestRecordTimestamp, long storedAt) =>
        _eventToVisibleSeconds.Record(Math.Max(storedAt - newestRecordTimestamp, 0) / 1000.0);

    public void AddTooLate(long n) => Interlocked.Add(ref _tooLate, n);
    public void AddLateEvents(long n) => Interlocked.Add(ref _lateEvents, n);
    public void AddWindowsFired(long n) => Interlocked.Add(ref _windowsFired, n);
    public void AddRowsWritten(long n) => Interlocked.Add(ref _rowsWritten, n);
    public void AddStoreFailure() => Interlocked.Increment(ref _storeFailures);
    public void AddLogReplaced() => Interlocked.Increment(ref _logsReplaced);
    public long LogsReplaced => Interlocked.Read(ref _logsReplaced);
    public void AddSnapshotFailure() => Interlocked.Increment(ref _snapshotFailures);

    /// <summary>
    /// Charges the CPU of handling one message until the returned value is disposed: <c>using var _ = metrics.Time(...)</c>.
    /// A <paramref name="heavy"/> message (a batch of many records or rows) is always timed, the many small ones by sample.
    /// </summary>
    public BusyTime Time(BusyActor actor, bool heavy = false) => new(this, actor, heavy);

    internal void AddBusy(BusyActor actor, long nanoseconds) => Interlocked.Add(ref _busyNanoseconds[(int)actor], nanoseconds);

    /// <summary>The CPU time actors of one kind have spent handling messages so far.</summary>
    public TimeSpan Busy(BusyActor actor) => TimeSpan.FromTicks(Interlocked.Read(ref _busyNanoseconds[(int)actor]) / 100);

    private IEnumerable<Measurement<double>> BusyByActor() =>
        Enum.GetValues<BusyActor>().Select(a => new Measurement<double>(Busy(a).TotalSeconds, new KeyValuePair<string, object?>("actor", a.ToString().ToLowerInvariant()))).ToList();

    public void AddSnapshot(long bytes)
    {
        Interlocked.Increment(ref _snapshots);
        Interlocked.Add(ref _snapshotBytes, bytes);
    }

    public void AddDeadLettered(string reason) => _deadLettered.AddOrUpdate(reason, 1, (_, n) => n + 1);

    public void SetWatermark(int partition, long watermark) => _watermarks[partition] = watermark;

    public void SetCommitted(int partition, long offset) => _committed[partition] = offset;

    /// <summary>The next offset <paramref name="partition"/> will read: everything below it has been taken.</summary>
    public void SetRead(int partition, long nextOffset) => _read[partition] = nextOffset;

    /// <summary>Whether <paramref name="partition"/> is held back by a side topic that keeps failing.</summary>
    public void SetHeldBack(int partition, bool heldBack) => _heldBack[partition] = heldBack;

    public void ForgetPartition(int partition)
    {
        _watermarks.TryRemove(partition, out _);
        _committed.TryRemove(partition, out _);
        _read.TryRemove(partition, out _);
        _heldBack.TryRemove(partition, out _);
    }

    /// <summary>Reads the log end of each partition of <paramref name="topic"/> from this consumer (the one running now).</summary>
    public void WatchConsumer(IConsumerControl consumer, string topic) =>
        _logEnd = partition => consumer.HighWatermark(new TopicPartition(topic, partition));

    /// <summary>Where the cluster gauges read the membership from.</summary>
    public void WatchCluster(Akka.Cluster.Cluster cluster) => _cluster = cluster;

    /// <summary>Every partition this node runs, in partition order.</summary>
    public IReadOnlyList<PartitionStatus> PartitionStatuses()
    {
        var partitions = new SortedSet<int>(_watermarks.Keys);
        partitions.UnionWith(_committed.Keys);
        var logEnd = _logEnd;
        var statuses = new List<PartitionStatus>(partitions.Count);
        foreach (var partition in partitions)
        {
            var watermark = _watermarks.TryGetValue(partition, out var w) ? w : Core.Time.Watermark.Start;
            var committed = _committed.TryGetValue(partition, out var c) ? c : -1;
            var end = logEnd(partition);
            // A commit can run ahead of the cached log end, which the broker only reports with a fetch.
            long? lag = end is { } e && committed >= 0 ? Math.Max(e - committed, 0) : null;
            statuses.Add(new PartitionStatus(partition, watermark, committed, end, lag));
        }
        return statuses;
    }

    /// <summary>This node's meter, told apart from other nodes' in the same process (tests) by identity, not name.</summary>
    internal Meter Meter => _meter;

    public void Dispose() => _meter.Dispose();

    private void Counter(string name, string description, Func<long> value) =>
        _meter.CreateObservableCounter(name, value, description: description);

    private void PartitionGauge(string name, string description, Func<PartitionStatus, long?> value) =>
        _meter.CreateObservableGauge(name, () => PartitionMeasurements(value), description: description);

    private List<Measurement<long>> PartitionMeasurements(Func<PartitionStatus, long?> value)
    {
        var measurements = new List<Measurement<long>>();
        foreach (var status in PartitionStatuses())
            if (value(status) is { } v) measurements.Add(new Measurement<long>(v, PartitionTag(status.Partition)));
        return measurements;
    }

    /// <summary>Records this node has yet to commit over all its partitions: the sum of their lag.</summary>
    public long RecordsBehind() => PartitionStatuses().Sum(s => s.Lag ?? 0);

    /// <summary>
    /// Records in this node's partitions not read yet. Unlike <see cref="RecordsBehind"/> it does not count what
    /// was read and waits for snapshots to be committed, so it says whether the node keeps up with the stream.
    /// </summary>
    public long RecordsUnread()
    {
        var logEnd = _logEnd;
        return _read.Sum(read => logEnd(read.Key) is { } end ? Math.Max(end - read.Value, 0) : 0);
    }

    private List<Measurement<int>> HeldBack()
    {
        var measurements = new List<Measurement<int>>();
        var partitions = new SortedSet<int>(_watermarks.Keys);
        partitions.UnionWith(_heldBack.Keys);
        foreach (var partition in partitions)
            measurements.Add(new Measurement<int>(_heldBack.TryGetValue(partition, out var held) && held ? 1 : 0, PartitionTag(partition)));
        return measurements;
    }

    private IEnumerable<Measurement<long>> DeadLetteredByReason() =>
        _deadLettered.Select(p => new Measurement<long>(p.Value, new KeyValuePair<string, object?>("reason", p.Key))).ToList();

    /// <summary>Every status, zeros included, so that a panel or rule over one status always has a series.</summary>
    private List<Measurement<int>> Members()
    {
        if (_cluster is not { } cluster) return [];
        var members = cluster.State.Members;
        return Enum.GetValues<MemberStatus>()
            .Select(status => new Measurement<int>(members.Count(m => m.Status == status), new KeyValuePair<string, object?>("status", status.ToString())))
            .ToList();
    }

    private int Unreachable() => _cluster?.State.Unreachable.Count ?? 0;

    private static KeyValuePair<string, object?> PartitionTag(int partition) => new("partition", partition);
}

/// <summary>
/// One message's handling being timed (<see cref="CollectorMetrics.Time"/>); a struct, so timing allocates
/// nothing. Reading a thread's CPU clock is a system call (1.4 µs each on a 2-vCPU KVM guest, where one in
/// eight small messages timed cost a tenth of the node's CPU), so of the small messages one in
/// <see cref="SmallEvery"/>, drawn at random per thread, is timed and counts for that many; heavy ones, a few
/// per thousand records, are each timed, so the estimate does not hang on a few draws of them. At random, not
/// every n-th: actors' messages come in patterns (a batch, then its acknowledgements), and a fixed stride
/// would follow the pattern.
/// </summary>
public readonly struct BusyTime : IDisposable
{
    private const int SmallEvery = 64;

    [ThreadStatic]
    private static uint t_draw;

    private readonly CollectorMetrics? _metrics;
    private readonly BusyActor _actor;
    private readonly long _began;
    private readonly int _weight;

    internal BusyTime(CollectorMetrics metrics, BusyActor actor, bool heavy)
    {
        if (!heavy && NextDraw() % SmallEvery != 0) return;
        _metrics = metrics;
        _actor = actor;
        _weight = heavy ? 1 : SmallEvery;
        _began = ThreadCpu.Now();
    }

    public void Dispose() => _metrics?.AddBusy(_actor, ThreadCpu.Since(_began) * _weight);

    // xorshift32: a thread's own cheap sequence, seeded from its id (never zero).
    private static uint NextDraw()
    {
        var x = t_draw == 0 ? (uint)Environment.CurrentManagedThreadId * 2_654_435_761u | 1 : t_draw;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        t_draw = x;
        return x >> 8;
    }
}

/// <summary>The kinds of actor whose message handling <see cref="CollectorMetrics.Time"/> times.</summary>
public enum BusyActor
{
    Partition,
    Device,
    ResultWriter,
}
