using Akka.Actor;
using Akka.Event;
using MetricsCollector.Configuration;
using MetricsCollector.Core.Windows;
using MetricsCollector.Devices;
using MetricsCollector.Observability;

namespace MetricsCollector.ReadSide;

/// <summary>
/// Batches the rows (parts of rows, see <see cref="WindowPart"/>) of all device actors of a node
/// into one transaction at a time, acknowledges each device once its rows are stored (a device
/// snapshots only after that), and passes the rows as stored, merged where a window has several
/// parts, on to the top-N singleton. A failed write is retried, never dropped: an outage of
/// the store stalls snapshots and commits, and nothing is lost. What it holds is published in
/// <see cref="WriteBacklog"/>: past its limit the partitions stop taking records, so a long outage
/// holds memory bounded, and they resume by themselves once the rows are stored.
/// </summary>
public sealed class ResultWriter : ReceiveActor, IWithTimers
{
    private readonly IResultStore _store;
    private readonly IActorRef _topN;
    private readonly IActorRef? _resultsTopic;
    private readonly CollectorMetrics _metrics;
    private readonly ResultWriterSettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private List<(StoreRows Request, IActorRef Device)> _buffer = new();
    private int _bufferedRows;
    private int _writingRows;
    private bool _writing;
    private int _failures;

    private readonly WriteBacklog _backlog;

    public ResultWriter(IResultStore store, IActorRef topN, CollectorMetrics metrics, ResultWriterSettings settings, WriteBacklog backlog, IActorRef? resultsTopic = null)
    {
        _resultsTopic = resultsTopic;
        _backlog = backlog;
        _store = store;
        _topN = topN;
        _metrics = metrics;
        _settings = settings;

        Receive<StoreRows>(request =>
        {
            _buffer.Add((request, Sender));
            _bufferedRows += request.Rows.Count;
            PublishBacklog();
            if (_bufferedRows >= _settings.BatchRows) Write();
            else if (!Timers.IsTimerActive("flush")) Timers.StartSingleTimer("flush", Flush.Instance, _settings.FlushDelay);
        });
        Receive<Flush>(_ => Write());
        Receive<Written>(written =>
        {
            _writing = false;
            _writingRows = 0;
            PublishBacklog();
            if (_failures > 0) _log.Info("Result store reachable again after {0} failed writes", _failures);
            _failures = 0;
            var parts = 0;
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            foreach (var (request, device) in written.Batch)
            {
                device.Tell(new RowsStored(request.Sequence));
                parts += request.Rows.Count;
                var fired = false;
                foreach (var part in request.Rows)
                {
                    if (!part.FirstRow) continue;
                    fired = true;
                    _metrics.RecordFireToStore(now - part.Row.LastUpdated);
                }
                if (fired && request.NewestAppended > 0) _metrics.RecordEventToVisible(request.NewestAppended, now);
            }
            _metrics.AddRowsWritten(parts);
            // The singleton may live on another node, and remoting drops a message over its frame
            // size (128 KB); a slice of rows stays well under it.
            foreach (var slice in written.Rows.Chunk(_settings.PublishSlice)) _topN.Tell(new RowsPublished(slice));
            // Committed, so owed to the results topic: its actor queues them and never makes the writer wait.
            // Only rows the store took: one it kept its own form of (a replay's copy of a stored revision) stays
            // owed as stored, and the topic gets that, not a copy made later.
            if (written.Rows.Changed.Count > 0) _resultsTopic?.Tell(new RowsPublished(written.Rows.Changed));
            if (_buffer.Count > 0) Write();
        });
        Receive<WriteFailed>(failed =>
        {
            _writing = false;
            _failures++;
            _metrics.AddStoreFailure();
            var delay = TimeSpan.FromMilliseconds(Math.Min(5_000, 100 * (1 << Math.Min(_failures, 6))));
            var parts = failed.Batch.Sum(b => b.Request.Rows.Count);
            _log.Warning(failed.Cause, "Writing {0} result rows failed ({1} in a row); retrying in {2}", parts, _failures, delay);
            _buffer.InsertRange(0, failed.Batch);
            _bufferedRows += parts;
            _writingRows = 0;
            PublishBacklog();
            Timers.StartSingleTimer("flush", Flush.Instance, delay);
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IResultStore store, IActorRef topN, CollectorMetrics metrics, ResultWriterSettings settings, WriteBacklog backlog, IActorRef? resultsTopic = null) =>
        Akka.Actor.Props.Create(() => new ResultWriter(store, topN, metrics, settings, backlog, resultsTopic));

    private void PublishBacklog() => _backlog.Set(_bufferedRows + _writingRows);

    protected override bool AroundReceive(Receive receive, object message)
    {
        // A write runs in the handler (SQLite's calls complete synchronously), and any message that finds the
        // writer idle may start one: those are timed each, the rows that only join the next batch by sample.
        using var busy = _metrics.Time(BusyActor.ResultWriter, heavy: message is Written || !_writing);
        return base.AroundReceive(receive, message);
    }

    private void Write()
    {
        if (_writing || _buffer.Count == 0) return;
        var batch = _buffer;
        _buffer = new List<(StoreRows, IActorRef)>();
        _writingRows = _bufferedRows;
        _bufferedRows = 0;
        _writing = true;
        // The store keeps the latest form of each part: a device's later rows of a window supersede its earlier ones.
        var parts = new List<WindowPart>(_writingRows);
        foreach (var (request, _) in batch) parts.AddRange(request.Rows);
        CollectorTracing.StoreWrite(parts.Count, () => _store.UpsertAsync(parts))
            .PipeTo(Self, success: rows => new Written(batch, rows), failure: e => new WriteFailed(batch, e));
    }

    private sealed class Flush
    {
        public static readonly Flush Instance = new();
    }

    private sealed record Written(List<(StoreRows Request, IActorRef Device)> Batch, StoredRows Rows);

    private sealed record WriteFailed(List<(StoreRows Request, IActorRef Device)> Batch, Exception Cause);
}
