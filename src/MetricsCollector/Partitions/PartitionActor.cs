using System.Collections.Immutable;
using System.Globalization;
using Akka.Actor;
using Akka.Event;
using Confluent.Kafka;
using MetricsCollector.Core.Events;
using MetricsCollector.Core.Time;
using MetricsCollector.Core.Windows;
using MetricsCollector.Devices;
using MetricsCollector.Kafka;
using MetricsCollector.Kafka.Consumer;
using MetricsCollector.Observability;

namespace MetricsCollector.Partitions;

/// <summary>
/// One assigned Kafka partition: decodes its records in order, keeps its watermark and event-time
/// timers, sends invalid and too-late records to their topics, hands each device its records
/// with the watermark they are judged by, and commits the lowest offset that every device has
/// covered with a snapshot and every side record has reached its topic.
/// The commit carries a checkpoint (offset, watermark before it, pending timers) so that a replay
/// from it judges every record exactly as the first pass did.
/// </summary>
public sealed class PartitionActor : ReceiveActor, IWithTimers
{
    /// <summary>Messages to devices not yet handled, beyond which the stream waits (well under the shard region's buffer of 100k).</summary>
    private const int MaxInFlight = 4_000;

    private readonly PartitionContext _context;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Watermark _watermark;
    private readonly EventTimeTimers<string> _timers = new();
    private readonly EventDecoder _decoder = new(new DeviceIdPool());
    private readonly Dictionary<string, long> _uncovered = new();
    private readonly Dictionary<string, long> _lastSent = new();
    private readonly SortedDictionary<long, SideRecord> _pendingSide = new();
    private readonly Queue<(long Offset, long Watermark)> _checkpoints = new();
    private readonly Dictionary<string, List<PartitionEvent>> _batch = new();
    private int _inFlight;
    private IActorRef? _awaitingAck;
    private long _nextOffset;
    private long _committed;
    private long _reportedWatermark = long.MinValue;
    private bool _saving;
    private bool _completed;

    public PartitionActor(PartitionContext context, PartitionProgress start)
    {
        _context = context;
        _watermark = new Watermark(context.MaxOutOfOrderness, context.IdleTimeout, context.Clock, start.Watermark);
        foreach (var (device, time) in start.Timers) _timers.Set(device, time);
        _nextOffset = start.Offset;
        _committed = start.Offset;
        _checkpoints.Enqueue((start.Offset, start.Watermark));

        Receive<StreamInit>(_ => Sender.Tell(StreamAck.Instance));
        Receive<IReadOnlyList<ConsumeResult<byte[]?, byte[]?>>>(records =>
        {
            Process(records);
            // Backpressure: the next batch comes only once the devices have caught up enough.
            if (_inFlight <= MaxInFlight) Sender.Tell(StreamAck.Instance);
            else _awaitingAck = Sender;
        });
        Receive<DeviceAck>(_ =>
        {
            _inFlight--;
            if (_awaitingAck is not null && _inFlight <= MaxInFlight / 2)
            {
                _awaitingAck.Tell(StreamAck.Instance);
                _awaitingAck = null;
            }
        });
        Receive<StreamCompleted>(_ => BeginFlush());
        Receive<StreamFailed>(failed =>
        {
            _log.Warning(failed.Cause, "Partition {0}: stream failed; flushing what was taken", Partition);
            BeginFlush();
        });
        Receive<WakeMeAt>(wake =>
        {
            if (wake.Watermark <= _watermark.Current) Wake(wake.DeviceId);
            else _timers.Set(wake.DeviceId, wake.Watermark);
        });
        Receive<Covered>(OnCovered);
        Receive<SideDelivered>(delivered =>
        {
            _pendingSide.Remove(delivered.Offset);
            CheckFlushed();
        });
        Receive<SideFailed>(failed =>
        {
            _log.Warning(failed.Cause, "Partition {0}: record {1} not yet delivered to {2}; retrying", Partition, failed.Offset, failed.Record.Topic);
            Timers.StartSingleTimer("side-" + failed.Offset, new RetrySide(failed.Offset), TimeSpan.FromSeconds(1));
        });
        Receive<RetrySide>(retry =>
        {
            if (_pendingSide.TryGetValue(retry.Offset, out var record)) Send(retry.Offset, record);
        });
        Receive<IdleTick>(_ =>
        {
            // Idle means nothing to read, not records waiting behind backpressure or a paused fetch.
            if (_completed || _context.Consumer.HighWatermark(_context.TopicPartition) > _nextOffset) return;
            if (!_watermark.AdvanceIfIdle()) return;
            _checkpoints.Enqueue((_nextOffset, _watermark.Current));
            WakeDue();
        });
        Receive<CommitTick>(_ => Commit());
        Receive<ProgressSaved>(saved =>
        {
            _saving = false;
            _committed = saved.Progress.Offset;
            _context.Consumer.Commit(_context.TopicPartition, saved.Progress.Offset);
            _context.Metrics.SetCommitted(Partition, saved.Progress.Offset);
            CheckFlushed();
        });
        Receive<ProgressFailed>(failed =>
        {
            _saving = false;
            _log.Warning(failed.Cause, "Partition {0}: saving progress failed; retrying at the next commit", Partition);
        });
        Receive<FlushTimeout>(_ =>
        {
            _log.Warning("Partition {0}: {1} devices and {2} side records still uncovered after {3}; the next owner replays from offset {4}",
                Partition, _uncovered.Count, _pendingSide.Count, _context.FlushTimeout, _committed);
            Finish();
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    private int Partition => _context.TopicPartition.Partition.Value;

    public static Props Props(PartitionContext context, PartitionProgress start) =>
        Akka.Actor.Props.Create(() => new PartitionActor(context, start));

    protected override void PreStart()
    {
        var idleCheck = TimeSpan.FromMilliseconds(Math.Clamp(_context.IdleTimeout / 4, 50, 1000));
        Timers.StartPeriodicTimer("idle", IdleTick.Instance, idleCheck);
        Timers.StartPeriodicTimer("commit", CommitTick.Instance, _context.CommitInterval);
    }

    protected override void PostStop()
    {
        _context.Metrics.ForgetPartition(Partition);
        // Stopped without flushing (the node is going down hard): whoever waits must not wait forever.
        _context.Flushed.TrySetResult(_committed);
    }

    private void Process(IReadOnlyList<ConsumeResult<byte[]?, byte[]?>> records)
    {
        long events = 0;
        foreach (var record in records)
        {
            var offset = record.Offset.Value;
            // Records below the resume point were read again after a rebalance raced a commit.
            if (offset < _nextOffset) continue;
            _nextOffset = offset + 1;
            var value = record.Message.Value ?? [];
            if (!_decoder.TryDecode(value, out var evt, out var reason))
            {
                _context.Metrics.AddDeadLettered(reason.ToHeaderValue());
                Divert(offset, new SideRecord(_context.DeadLetterTopic, record.Message.Key, value, reason.ToHeaderValue()));
                continue;
            }
            events++;
            var judgedBy = _watermark.Observe(evt.Timestamp);
            if (_context.Windows.IsTooLate(evt.Timestamp, judgedBy))
            {
                _context.Metrics.AddTooLate(1);
                Divert(offset, new SideRecord(_context.TooLateTopic, record.Message.Key, value, "too-late"));
                continue;
            }
            if (!_batch.TryGetValue(evt.DeviceId, out var list)) _batch[evt.DeviceId] = list = new List<PartitionEvent>(4);
            list.Add(new PartitionEvent(offset, judgedBy, evt.Timestamp, evt.CpuUsage));
        }
        _context.Metrics.AddRecordsIn(records.Count);
        _context.Metrics.AddEventsIn(events);

        foreach (var (device, list) in _batch)
        {
            _uncovered.TryAdd(device, list[0].Offset);
            _lastSent[device] = list[^1].Offset;
            _context.Devices.Tell(new DeviceEvents(device, Partition, Self, _context.Epoch, list.ToArray()));
            _inFlight++;
        }
        _batch.Clear();
        // The watermark after this batch is the one the next record will be judged by.
        _checkpoints.Enqueue((_nextOffset, _watermark.Current));
        WakeDue();
    }

    private void Divert(long offset, SideRecord record)
    {
        _pendingSide[offset] = record;
        Send(offset, record);
    }

    private void Send(long offset, SideRecord record)
    {
        // The source partition and offset travel along, so a replay can tell what was already sent.
        var headers = new[]
        {
            new KeyValuePair<string, string>("source-partition", Partition.ToString(CultureInfo.InvariantCulture)),
            new KeyValuePair<string, string>("source-offset", offset.ToString(CultureInfo.InvariantCulture)),
        };
        _context.SideOutput.ProduceAsync(record.Topic, record.Key, record.Value, record.Reason, headers)
            .PipeTo(Self, success: _ => new SideDelivered(offset), failure: e => new SideFailed(offset, record, e));
    }

    private void WakeDue()
    {
        var watermark = _watermark.Current;
        foreach (var device in _timers.TakeDue(watermark)) Wake(device);
        _context.Metrics.SetWatermark(Partition, watermark);
        if (watermark != _reportedWatermark)
        {
            _reportedWatermark = watermark;
            _context.TopN.Tell(new PartitionWatermark(Partition, watermark));
        }
    }

    private void Wake(string device)
    {
        _context.Devices.Tell(new AdvanceWatermark(device, Partition, Self, _watermark.Current));
        _inFlight++;
    }

    private void OnCovered(Covered covered)
    {
        if (!_uncovered.TryGetValue(covered.DeviceId, out var first) || covered.ThroughOffset < first) return;
        if (_lastSent.TryGetValue(covered.DeviceId, out var last) && last <= covered.ThroughOffset)
        {
            _uncovered.Remove(covered.DeviceId);
            _lastSent.Remove(covered.DeviceId);
        }
        else
        {
            // Records sent after the snapshot are not covered; the next one is at least one further on.
            _uncovered[covered.DeviceId] = covered.ThroughOffset + 1;
        }
        CheckFlushed();
    }

    /// <summary>The lowest offset whose effect might not be stored yet: everything below it is safe to skip on replay.</summary>
    private long SafeOffset()
    {
        var safe = _nextOffset;
        foreach (var offset in _uncovered.Values) safe = Math.Min(safe, offset);
        if (_pendingSide.Count > 0) safe = Math.Min(safe, _pendingSide.Keys.First());
        return safe;
    }

    private void Commit()
    {
        if (_saving) return;
        var safe = SafeOffset();
        while (_checkpoints.Count > 1 && SecondCheckpoint().Offset <= safe) _checkpoints.Dequeue();
        var (offset, watermark) = _checkpoints.Peek();
        if (offset <= _committed) return;

        var progress = new PartitionProgress(offset, watermark, _timers.Pending.ToImmutableDictionary(), _context.Epoch);
        _saving = true;
        _context.Progress.SaveAsync(_context.ProgressKey, progress)
            .PipeTo(Self, success: () => new ProgressSaved(progress), failure: e => new ProgressFailed(e));
    }

    private (long Offset, long Watermark) SecondCheckpoint()
    {
        using var enumerator = _checkpoints.GetEnumerator();
        enumerator.MoveNext();
        enumerator.MoveNext();
        return enumerator.Current;
    }

    private void BeginFlush()
    {
        if (_completed) return;
        _completed = true;
        foreach (var device in _uncovered.Keys)
        {
            _context.Devices.Tell(new FlushDevice(device, Partition, Self));
            _inFlight++;
        }
        Timers.StartSingleTimer("flush-timeout", FlushTimeout.Instance, _context.FlushTimeout);
        CheckFlushed();
    }

    /// <summary>Once the stream has ended: commit what became safe, and finish when everything taken is committed.</summary>
    private void CheckFlushed()
    {
        if (!_completed) return;
        if (_committed < _nextOffset)
        {
            Commit();
            return;
        }
        Finish();
    }

    private void Finish()
    {
        _context.Flushed.TrySetResult(_committed);
        Context.Stop(Self);
    }

    private sealed record SideRecord(string Topic, byte[]? Key, byte[] Value, string Reason);

    private sealed record SideDelivered(long Offset);

    private sealed record SideFailed(long Offset, SideRecord Record, Exception Cause);

    private sealed record RetrySide(long Offset);

    private sealed record ProgressSaved(PartitionProgress Progress);

    private sealed record ProgressFailed(Exception Cause);

    private sealed class IdleTick
    {
        public static readonly IdleTick Instance = new();
    }

    private sealed class CommitTick
    {
        public static readonly CommitTick Instance = new();
    }

    private sealed class FlushTimeout
    {
        public static readonly FlushTimeout Instance = new();
    }
}
