using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using HdrHistogram;

namespace MetricsCollector.Observability;

/// <summary>
/// The node's counters and gauges, written in the Prometheus text format at <c>/metrics</c>.
/// Plain interlocked counters: they are bumped per batch on the hot path and read rarely.
/// </summary>
public sealed class CollectorMetrics
{
    private long _recordsIn;
    private long _eventsIn;
    private long _eventsApplied;
    private long _tooLate;
    private long _lateEvents;
    private long _windowsFired;
    private long _rowsWritten;
    private long _snapshots;
    private long _snapshotBytes;
    private long _snapshotFailures;
    private long _storeFailures;
    private long _logsReplaced;
    private readonly ConcurrentDictionary<string, long> _deadLettered = new();

    // From a window's first row being computed (right after the watermark reached its end) to the
    // row being committed in the store: what a reader of the API waits for. Milliseconds.
    private readonly LongConcurrentHistogram _fireToStore = new(1, 3_600_000, 3);
    private readonly ConcurrentDictionary<int, long> _watermarks = new();
    private readonly ConcurrentDictionary<int, long> _committed = new();

    public long RecordsIn => Interlocked.Read(ref _recordsIn);
    public long EventsIn => Interlocked.Read(ref _eventsIn);
    public long EventsApplied => Interlocked.Read(ref _eventsApplied);
    public long TooLate => Interlocked.Read(ref _tooLate);
    public long WindowsFired => Interlocked.Read(ref _windowsFired);
    public long RowsWritten => Interlocked.Read(ref _rowsWritten);
    public long Snapshots => Interlocked.Read(ref _snapshots);
    public long SnapshotBytes => Interlocked.Read(ref _snapshotBytes);
    public long DeadLettered => _deadLettered.Values.Sum();

    public void AddRecordsIn(long n) => Interlocked.Add(ref _recordsIn, n);
    public void AddEventsIn(long n) => Interlocked.Add(ref _eventsIn, n);
    public void AddEventsApplied(long n) => Interlocked.Add(ref _eventsApplied, n);

    public void RecordFireToStore(long milliseconds) => _fireToStore.RecordValue(Math.Clamp(milliseconds, 1, 3_600_000));

    /// <summary>The fire-to-store delay at quantile <paramref name="q"/> (0..1), in milliseconds; 0 before any window fired.</summary>
    public long FireToStore(double q) => _fireToStore.TotalCount == 0 ? 0 : _fireToStore.GetValueAtPercentile(q * 100);
    public void AddTooLate(long n) => Interlocked.Add(ref _tooLate, n);
    public void AddLateEvents(long n) => Interlocked.Add(ref _lateEvents, n);
    public void AddWindowsFired(long n) => Interlocked.Add(ref _windowsFired, n);
    public void AddRowsWritten(long n) => Interlocked.Add(ref _rowsWritten, n);
    public void AddStoreFailure() => Interlocked.Increment(ref _storeFailures);
    public void AddLogReplaced() => Interlocked.Increment(ref _logsReplaced);
    public void AddSnapshotFailure() => Interlocked.Increment(ref _snapshotFailures);

    public void AddSnapshot(long bytes)
    {
        Interlocked.Increment(ref _snapshots);
        Interlocked.Add(ref _snapshotBytes, bytes);
    }

    public void AddDeadLettered(string reason) => _deadLettered.AddOrUpdate(reason, 1, (_, n) => n + 1);

    public void SetWatermark(int partition, long watermark) => _watermarks[partition] = watermark;

    public void SetCommitted(int partition, long offset) => _committed[partition] = offset;

    public void ForgetPartition(int partition)
    {
        _watermarks.TryRemove(partition, out _);
        _committed.TryRemove(partition, out _);
    }

    public string ToPrometheusText()
    {
        var text = new StringBuilder(2048);
        Counter(text, "mc_records_in_total", "Kafka records consumed from the input topic.", RecordsIn);
        Counter(text, "mc_events_in_total", "Valid events decoded.", EventsIn);
        Counter(text, "mc_events_applied_total", "Events applied by device actors (replays skipped).", EventsApplied);
        text.Append("# HELP mc_dead_lettered_total Invalid records sent to the dead-letter topic, by reason.\n# TYPE mc_dead_lettered_total counter\n");
        foreach (var (reason, n) in _deadLettered.OrderBy(p => p.Key, StringComparer.Ordinal))
            text.Append(CultureInfo.InvariantCulture, $"mc_dead_lettered_total{{reason=\"{reason}\"}} {n}\n");
        Counter(text, "mc_too_late_total", "Events too late for every window, sent to the too-late topic.", TooLate);
        Counter(text, "mc_late_events_total", "Events that revised at least one fired window.", Interlocked.Read(ref _lateEvents));
        Counter(text, "mc_windows_fired_total", "Windows fired with at least one event.", WindowsFired);
        Counter(text, "mc_rows_written_total", "Result rows upserted into the read-side store.", RowsWritten);
        Counter(text, "mc_store_failures_total", "Failed read-side writes (retried).", Interlocked.Read(ref _storeFailures));
        Counter(text, "mc_partition_logs_replaced_total", "Partitions whose log was found replaced under their checkpoint and read anew.", Interlocked.Read(ref _logsReplaced));
        Counter(text, "mc_snapshots_total", "Device snapshots saved.", Snapshots);
        Counter(text, "mc_snapshot_bytes_total", "Bytes of device snapshots saved.", SnapshotBytes);
        Counter(text, "mc_snapshot_failures_total", "Device snapshots that failed (retried).", Interlocked.Read(ref _snapshotFailures));
        text.Append("# HELP mc_fire_to_store_ms Delay from a window firing to its row being stored.\n# TYPE mc_fire_to_store_ms summary\n");
        foreach (var q in new[] { 0.5, 0.9, 0.99 })
            text.Append(CultureInfo.InvariantCulture, $"mc_fire_to_store_ms{{quantile=\"{q}\"}} {FireToStore(q)}\n");
        text.Append(CultureInfo.InvariantCulture, $"mc_fire_to_store_ms_count {_fireToStore.TotalCount}\n");
        Gauges(text, "mc_partition_watermark_ms", "Event-time watermark per assigned partition (epoch ms).", _watermarks);
        Gauges(text, "mc_partition_committed_offset", "Last committed offset per assigned partition.", _committed);
        return text.ToString();
    }

    private static void Counter(StringBuilder text, string name, string help, long value) =>
        text.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}\n");

    private static void Gauges(StringBuilder text, string name, string help, ConcurrentDictionary<int, long> values)
    {
        text.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} gauge\n");
        foreach (var (partition, value) in values.OrderBy(p => p.Key))
            text.Append(CultureInfo.InvariantCulture, $"{name}{{partition=\"{partition}\"}} {value}\n");
    }

    /// <summary>The partitions this node consumes, with their watermark and committed offset (log end and lag not tracked here).</summary>
    public IReadOnlyList<PartitionStatus> PartitionStatuses() =>
        _watermarks.Keys.Union(_committed.Keys).Order()
            .Select(p => new PartitionStatus(
                p,
                _watermarks.TryGetValue(p, out var watermark) ? watermark : long.MinValue,
                _committed.TryGetValue(p, out var committed) ? committed : -1,
                null,
                null))
            .ToList();
}
