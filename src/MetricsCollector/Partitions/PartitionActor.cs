using System.Collections.Immutable;
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
/// from it judges every record exactly as the first pass did; an idle jump of the watermark is
/// saved even when no record came since, since the records after it were judged by it.
/// <para>
/// Side records go exactly once through a crash: each side topic's records of this partition go
/// to one partition of it (<see cref="SideLedger"/>), each checkpoint says from where in it the
/// records of later offsets can be found (<see cref="SideMark"/>), and before taking records a
/// partition reads that stretch back and skips producing what is already there. A partition
/// without marks (none stored yet, or a checkpoint of another broker) saves them before it takes
/// a record: otherwise a crash before its first commit would leave the next owner nowhere to look.
/// A transactional producer would fence a zombie owner too, but would add a transaction per
/// commit and make readers of the side topics use read_committed; a kill -9 leaves no zombie.
/// </para>
/// </summary>
public sealed class PartitionActor : ReceiveActor, IWithTimers
{
    /// <summary>Messages to devices not yet handled, beyond which the stream waits (well under the shard region's buffer of 100k).</summary>
    private const int MaxInFlight = 4_000;

    /// <summary>
    /// How long a device may leave messages unacknowledged before they are sent again (<see cref="DeviceOutbox"/>):
    /// only for a lost last message; a gap is reported by the device at once (<see cref="DeviceGap"/>).
    /// Short timeouts resend to devices that are only slow while a backlog drains.
    /// </summary>
    private static readonly TimeSpan ResendAfter = TimeSpan.FromSeconds(30);

    private readonly PartitionContext _context;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Watermark _watermark;
    private readonly EventTimeTimers<string> _timers = new();
    private readonly EventDecoder _decoder = new(new DeviceIdPool());
    private readonly Dictionary<string, long> _uncovered = new();
    private readonly Dictionary<string, long> _lastSent = new();
    private readonly SortedDictionary<long, SideRecord> _pendingSide = new();
    private readonly Queue<Checkpoint> _checkpoints = new();
    private readonly Dictionary<string, SideLedger> _sides = new();
    private readonly Dictionary<string, List<PartitionEvent>> _batch = new();
    private readonly DeviceOutbox _outbox = new();
    private IActorRef? _awaitingAck;
    private long _nextOffset;
    private PartitionProgress _saved;
    private IActorRef? _awaitingInit;
    private bool _sidesReady;
    private bool _shardReady;
    private long _reportedWatermark = long.MinValue;
    private bool _saving;
    private bool _completed;

    public PartitionActor(PartitionContext context, PartitionProgress start)
    {
        _context = context;
        _watermark = new Watermark(context.MaxOutOfOrderness, context.IdleTimeout, context.Clock, start.Watermark);
        foreach (var (device, time) in start.Timers) _timers.Set(device, time);
        _nextOffset = start.Offset;
        _saved = start;
        Preparing();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    private int Partition => _context.TopicPartition.Partition.Value;

    private long Committed => _saved.Offset;

    public static Props Props(PartitionContext context, PartitionProgress start) =>
        Akka.Actor.Props.Create(() => new PartitionActor(context, start));

    protected override void PreStart()
    {
        ReadSideTopicsBack();
        _context.ShardReady.PipeTo(Self, success: () => ShardReady.Instance, failure: e => new ShardNotReady(e));
        _context.Revoked.Task.PipeTo(Self, success: () => Revoked.Instance);
        var idleCheck = TimeSpan.FromMilliseconds(Math.Clamp(_context.IdleTimeout / 4, 50, 1000));
        Timers.StartPeriodicTimer("idle", IdleTick.Instance, idleCheck);
        Timers.StartPeriodicTimer("commit", CommitTick.Instance, _context.CommitInterval);
        Timers.StartPeriodicTimer("resend", ResendTick.Instance, TimeSpan.FromSeconds(1));
    }

    protected override void PostStop()
    {
        _context.Metrics.ForgetPartition(Partition);
        // Stopped without flushing (the node is going down hard): whoever waits must not wait forever.
        _context.Flushed.TrySetResult(Committed);
    }

    /// <summary>
    /// Before the first record: learn what the side topics already hold, save the marks if the
    /// checkpoint had none, and wait until the device shard can only start here. The stream waits
    /// for the answer to its init message meanwhile.
    /// </summary>
    private void Preparing()
    {
        Receive<StreamInit>(_ => _awaitingInit = Sender);
        Receive<ShardReady>(_ =>
        {
            _shardReady = true;
            TryBecomeRunning();
        });
        // Cancelled once the partition has finished: it was revoked before its shard could start here.
        Receive<ShardNotReady>(failed =>
        {
            if (failed.Cause is not OperationCanceledException)
                _log.Error(failed.Cause, "Partition {0}: the shard hand-over check failed; the partition waits until it is revoked", Partition);
        });
        Receive<SidesReadBack>(read =>
        {
            foreach (var ledger in read.Ledgers) _sides[ledger.Topic] = ledger;
            var start = _saved with { SideMarks = MarksAt(_saved.Offset) };
            _checkpoints.Enqueue(new Checkpoint(start.Offset, start.Watermark, start.SideMarks));
            if (read.Ledgers.All(side => _saved.SideMarks.Any(m => m.Topic == side.Topic && m.Partition == side.Partition))) SidesReady();
            else SaveProgress(start);
        });
        Receive<SideReadBackFailed>(failed =>
        {
            _log.Warning(failed.Cause, "Partition {0}: could not read the side topics back; retrying", Partition);
            Timers.StartSingleTimer("read-back", RetryReadBack.Instance, TimeSpan.FromSeconds(1));
        });
        Receive<RetryReadBack>(_ => ReadSideTopicsBack());
        Receive<ProgressSaved>(saved =>
        {
            _saving = false;
            _saved = saved.Progress;
            SidesReady();
        });
        Receive<ProgressFailed>(failed =>
        {
            _saving = false;
            _log.Warning(failed.Cause, "Partition {0}: saving its side marks failed; retrying", Partition);
            Timers.StartSingleTimer("save-marks", RetrySaveMarks.Instance, TimeSpan.FromSeconds(1));
        });
        Receive<RetrySaveMarks>(_ => SaveProgress(_saved with { SideMarks = _checkpoints.Peek().SideMarks }));
        // Nothing was taken yet: nothing to flush.
        Receive<StreamCompleted>(_ => Finish());
        Receive<Revoked>(_ => Finish());
        Receive<StreamFailed>(failed =>
        {
            _log.Warning(failed.Cause, "Partition {0}: stream failed before it took a record", Partition);
            Finish();
        });
        // Neither the watermark nor the checkpoint can move before records may flow.
        Receive<IdleTick>(_ => { });
        Receive<CommitTick>(_ => { });
        Receive<ResendTick>(_ => { });
        Receive<DeviceGap>(_ => { });
    }

    private void SidesReady()
    {
        _sidesReady = true;
        TryBecomeRunning();
    }

    private void TryBecomeRunning()
    {
        if (!_sidesReady || !_shardReady) return;
        Become(Running);
        _awaitingInit?.Tell(StreamAck.Instance);
        _awaitingInit = null;
    }

    private void ReadSideTopicsBack()
    {
        var partition = Partition;
        var start = _saved;
        var output = _context.SideOutput;
        var topics = new[] { _context.DeadLetterTopic, _context.TooLateTopic }.Distinct().ToList();
        ReadBackAsync().PipeTo(Self, success: ledgers => new SidesReadBack(ledgers), failure: e => new SideReadBackFailed(e));

        async Task<IReadOnlyList<SideLedger>> ReadBackAsync()
        {
            var ledgers = new List<SideLedger>();
            foreach (var topic in topics)
            {
                var count = await output.PartitionCountAsync(topic);
                var mark = start.SideMarks.FirstOrDefault(m => m.Topic == topic && m.Partition < count);
                var side = new TopicPartition(topic, mark?.Partition ?? partition % count);
                var found = await output.ReadBackAsync(side, mark?.Offset, partition);
                ledgers.Add(new SideLedger(topic, side.Partition.Value, found.End, found.BySourceOffset));
            }
            return ledgers;
        }
    }

    private void Running()
    {
        Receive<StreamInit>(_ => Sender.Tell(StreamAck.Instance));
        Receive<IReadOnlyList<ConsumeResult<byte[]?, byte[]?>>>(records =>
        {
            // Revoked: what the stream still delivers stays uncommitted, for the next owner.
            if (_completed)
            {
                Sender.Tell(StreamAck.Instance);
                return;
            }
            Process(records);
            // Backpressure: the next batch comes only once the devices have caught up enough.
            if (_outbox.InFlight <= MaxInFlight) Sender.Tell(StreamAck.Instance);
            else _awaitingAck = Sender;
        });
        Receive<DeviceAck>(ack =>
        {
            _outbox.Ack(ack.DeviceId, ack.Seq, Now);
            if (_awaitingAck is not null && _outbox.InFlight <= MaxInFlight / 2)
            {
                _awaitingAck.Tell(StreamAck.Instance);
                _awaitingAck = null;
            }
        });
        Receive<StreamCompleted>(_ => BeginFlush());
        Receive<Revoked>(_ =>
        {
            BeginFlush();
            _awaitingAck?.Tell(StreamAck.Instance);
            _awaitingAck = null;
        });
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
            _sides[delivered.Topic].Delivered(delivered.SideOffset);
            CheckFlushed();
        });
        Receive<SideFailed>(failed =>
        {
            _log.Warning(failed.Cause, "Partition {0}: record {1} not yet delivered to {2}; retrying", Partition, failed.Offset, failed.Record.Destination.Topic);
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
            TakeCheckpoint();
            WakeDue();
        });
        Receive<CommitTick>(_ => Commit());
        Receive<ResendTick>(_ => ResendOverdue());
        Receive<DeviceGap>(gap =>
        {
            var again = _outbox.AfterGap(gap.DeviceId, Now, minInterval: 1_000);
            if (again.Count > 0) _log.Info("Partition {0}: device {1} missed a message; sending its {2} unacknowledged again", Partition, gap.DeviceId, again.Count);
            foreach (var message in again) _context.Devices.Tell(message);
        });
        Receive<ProgressSaved>(saved =>
        {
            _saving = false;
            _saved = saved.Progress;
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
                Partition, _uncovered.Count, _pendingSide.Count, _context.FlushTimeout, Committed);
            Finish();
        });
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
                Divert(offset, _context.DeadLetterTopic, record.Message.Key, value, reason.ToHeaderValue());
                continue;
            }
            events++;
            var judgedBy = _watermark.Observe(evt.Timestamp);
            if (_context.Windows.IsTooLate(evt.Timestamp, judgedBy))
            {
                _context.Metrics.AddTooLate(1);
                Divert(offset, _context.TooLateTopic, record.Message.Key, value, "too-late");
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
            var run = list.ToArray();
            ToDevice(device, d => new DeviceEvents(device, Partition, Self, _context.Epoch, run) { Delivery = d });
        }
        _batch.Clear();
        // The watermark after this batch is the one the next record will be judged by.
        TakeCheckpoint();
        WakeDue();
    }

    private void TakeCheckpoint() => _checkpoints.Enqueue(new Checkpoint(_nextOffset, _watermark.Current, MarksAt(_nextOffset)));

    private List<SideMark> MarksAt(long offset) => _sides.Values.Select(side => side.MarkAt(offset)).ToList();

    private void Divert(long offset, string topic, byte[]? key, byte[] value, string reason)
    {
        var side = _sides[topic];
        // Delivered by an owner that crashed before committing past it.
        if (side.Holds(offset)) return;
        var record = new SideRecord(new TopicPartition(topic, side.Partition), key, value, reason);
        _pendingSide[offset] = record;
        Send(offset, record);
    }

    private void Send(long offset, SideRecord record) =>
        _context.SideOutput.ProduceAsync(record.Destination, record.Key, record.Value, record.Reason, Partition, offset)
            .PipeTo(Self,
                success: delivered => new SideDelivered(offset, record.Destination.Topic, delivered.Offset.Value),
                failure: e => new SideFailed(offset, record, e));

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

    private void ToDevice(string device, Func<Delivery, IFromPartition> message) =>
        _context.Devices.Tell(_outbox.Stamp(device, message, Now));

    private long Now => _context.Clock.GetUtcNow().ToUnixTimeMilliseconds();

    private void ResendOverdue()
    {
        var again = _outbox.Overdue(Now, (long)ResendAfter.TotalMilliseconds);
        if (again.Count == 0) return;
        _log.Info("Partition {0}: sending {1} unacknowledged messages to {2} devices again", Partition, again.Count, again.Select(m => m.DeviceId).Distinct().Count());
        foreach (var message in again) _context.Devices.Tell(message);
    }

    private void Wake(string device)
    {
        var watermark = _watermark.Current;
        ToDevice(device, d => new AdvanceWatermark(device, Partition, Self, watermark) { Delivery = d });
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
        if (!_saving && DueProgress() is { } progress) SaveProgress(progress);
    }

    /// <summary>The latest safe checkpoint, if a replay from it would differ from one from the saved progress.</summary>
    private PartitionProgress? DueProgress()
    {
        var safe = SafeOffset();
        while (_checkpoints.Count > 1 && SecondCheckpoint().Offset <= safe) _checkpoints.Dequeue();
        var checkpoint = _checkpoints.Peek();
        var progress = new PartitionProgress(checkpoint.Offset, checkpoint.Watermark, _timers.Pending, _context.Epoch) { SideMarks = checkpoint.SideMarks };
        return progress.ResumesLike(_saved) ? null : progress with { Timers = _timers.Pending.ToImmutableDictionary() };
    }

    private void SaveProgress(PartitionProgress progress)
    {
        _saving = true;
        _context.Progress.SaveAsync(_context.ProgressKey, progress)
            .PipeTo(Self, success: () => new ProgressSaved(progress), failure: e => new ProgressFailed(e));
    }

    private Checkpoint SecondCheckpoint()
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
            ToDevice(device, d => new FlushDevice(device, Partition, Self) { Delivery = d });
        }
        Timers.StartSingleTimer("flush-timeout", FlushTimeout.Instance, _context.FlushTimeout);
        CheckFlushed();
    }

    /// <summary>Once the stream has ended: commit what became safe, and finish when everything taken is committed.</summary>
    private void CheckFlushed()
    {
        if (!_completed || _saving) return;
        if (Committed < _nextOffset || DueProgress() is not null)
        {
            Commit();
            return;
        }
        Finish();
    }

    private void Finish()
    {
        _context.Flushed.TrySetResult(Committed);
        Context.Stop(Self);
    }

    /// <summary>Where a replay from <see cref="Offset"/> starts: the watermark it judges that record by, and the side marks.</summary>
    private sealed record Checkpoint(long Offset, long Watermark, IReadOnlyList<SideMark> SideMarks);

    private sealed record SideRecord(TopicPartition Destination, byte[]? Key, byte[] Value, string Reason);

    private sealed class ShardReady
    {
        public static readonly ShardReady Instance = new();
    }

    private sealed record ShardNotReady(Exception Cause);

    private sealed record SideDelivered(long Offset, string Topic, long SideOffset);

    private sealed record SidesReadBack(IReadOnlyList<SideLedger> Ledgers);

    private sealed record SideReadBackFailed(Exception Cause);

    private sealed record SideFailed(long Offset, SideRecord Record, Exception Cause);

    private sealed record RetrySide(long Offset);

    private sealed record ProgressSaved(PartitionProgress Progress);

    private sealed record ProgressFailed(Exception Cause);

    private sealed class RetryReadBack
    {
        public static readonly RetryReadBack Instance = new();
    }

    private sealed class RetrySaveMarks
    {
        public static readonly RetrySaveMarks Instance = new();
    }

    private sealed class IdleTick
    {
        public static readonly IdleTick Instance = new();
    }

    private sealed class ResendTick
    {
        public static readonly ResendTick Instance = new();
    }

    private sealed class CommitTick
    {
        public static readonly CommitTick Instance = new();
    }

    private sealed class FlushTimeout
    {
        public static readonly FlushTimeout Instance = new();
    }

    private sealed class Revoked
    {
        public static readonly Revoked Instance = new();
    }
}
