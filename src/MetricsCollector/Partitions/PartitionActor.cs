using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.Event;
using Confluent.Kafka;
using MetricsCollector.Core.Events;
using MetricsCollector.Core.Partitions;
using MetricsCollector.Core.Time;
using MetricsCollector.Devices;
using MetricsCollector.Kafka.Consumer;
using MetricsCollector.Observability;
using MetricsCollector.ReadSide;

namespace MetricsCollector.Partitions;

/// <summary>
/// One assigned Kafka partition. It orchestrates; the rules live in plain classes:
/// <see cref="RecordJudge"/> (core) decides each record's fate in partition order,
/// <see cref="SideOutputs"/> holds the dead-letter and too-late records on their way,
/// <see cref="CommitTracker"/> decides what may be committed with which checkpoint, and
/// <see cref="DeviceOutbox"/> delivers to devices at least once.
/// <para>
/// The stream feeds it batches of records and waits for an acknowledgement before the next. It
/// acknowledges while its devices keep up, its pending side records stay under their bound and the
/// node's result writer is not full; otherwise intake pauses, nothing is dropped, and it resumes by
/// itself. An idle jump of the watermark is saved before it is applied, and records arriving
/// meanwhile wait, so that a replay judges every record by the watermark the first pass did.
/// </para>
/// <para>
/// Side records go exactly once through a crash: each side topic's records of this partition go to
/// one partition of it (<see cref="SideLedger"/>), each checkpoint says from where in it the records
/// of later offsets can be found (<see cref="SideMark"/>), and before taking records a partition reads
/// that stretch back and skips producing what is already there. A partition without marks (none
/// stored yet, or a checkpoint of another broker or log) saves them before it takes a record.
/// </para>
/// <para>
/// It ends by handing over (revoked, the stream completed: devices snapshot, then the last commit),
/// or by asking to be read again from its last commit: a device lost state it had acknowledged
/// (<see cref="DeviceLostState"/>), the log was replaced (<see cref="PartitionContext.Abandoned"/>),
/// or a handler threw. It never restarts in place with state that no longer matches its stream.
/// </para>
/// </summary>
public sealed class PartitionActor : ReceiveActor, IWithTimers
{
    private readonly PartitionContext _context;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly RecordJudge _judge;
    private readonly CommitTracker _tracker;
    private readonly CommitStall _stall;
    private readonly DeviceOutbox _outbox = new();
    private readonly Dictionary<string, Run> _runs = new();
    // Runs are reused from batch to batch: with 10,000 devices a 500-record batch holds about one
    // event a device, so a new list and array per run was an allocation per event.
    private readonly Stack<Run> _spareRuns = new();
    private readonly Queue<WatermarkJump> _replayJumps;
    private SideOutputs? _sides;
    private IActorRef? _awaitingInit;
    private IActorRef? _awaitingAck;
    private (RecordBatch Records, IActorRef Stream)? _waiting;
    private long? _jumpBeingSaved;
    private bool _shardReady;
    private long _reportedWatermark = long.MinValue;
    private bool _saving;
    private bool _completed;
    private bool _heldBack;
    private bool _awaitingRoom;
    private PartitionEnd? _end;

    public PartitionActor(PartitionContext context, PartitionProgress start)
    {
        _context = context;
        var watermark = new Watermark(context.MaxOutOfOrderness, context.IdleTimeout, context.Clock, start.Watermark);
        _judge = new RecordJudge(new EventDecoder(new DeviceIdPool()), watermark, context.Windows, context.MaxFutureSkew);
        _tracker = new CommitTracker(start);
        _stall = new CommitStall((long)context.CommitStallWarning.TotalMilliseconds);
        _replayJumps = new Queue<WatermarkJump>(_tracker.JumpsAhead);
        Preparing();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    private int Partition => _context.TopicPartition.Partition.Value;

    private long Watermark => _judge.Watermark.Current;

    private SideOutputs Sides => _sides ?? throw new InvalidOperationException("side topics not read back yet");

    public static Props Props(PartitionContext context, PartitionProgress start) =>
        Akka.Actor.Props.Create(() => new PartitionActor(context, start));

    protected override void PreStart()
    {
        ReadSideTopicsBack();
        _context.ShardReady.PipeTo(Self, success: () => ShardReady.Instance, failure: e => new ShardNotReady(e));
        _context.Revoked.Task.PipeTo(Self, success: () => Revoked.Instance);
        _context.Abandoned.Task.PipeTo(Self, success: () => Abandoned.Instance);
        var idleCheck = TimeSpan.FromMilliseconds(Math.Clamp(_context.IdleTimeout / 4, 50, 1000));
        Timers.StartPeriodicTimer("idle", IdleTick.Instance, idleCheck);
        Timers.StartPeriodicTimer("commit", CommitTick.Instance, _context.CommitInterval);
        Timers.StartPeriodicTimer("resend", ResendTick.Instance, TimeSpan.FromSeconds(1));
        Timers.StartPeriodicTimer("passivate", PassivateTick.Instance, TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerSecond / 4, _context.PassivateAfter.Ticks / 4)));
    }

    protected override void PostStop()
    {
        _context.Metrics.ForgetPartition(Partition);
        if (_heldBack) _context.HeldBackChanged(false);
        _context.Ended.TrySetResult(_end ?? new PartitionEnd(_tracker.Saved.Offset, ReadAgain: true, "stopped unexpectedly"));
    }

    /// <summary>
    /// A handler that throws leaves this actor's state half-way through a message, so it is not
    /// restarted with it: it stops and the ingest reads the partition again from its last commit.
    /// </summary>
    protected override bool AroundReceive(Receive receive, object message)
    {
        using var busy = _context.Metrics.Time(BusyActor.Partition, heavy: message is RecordBatch);
        try
        {
            return base.AroundReceive(receive, message);
        }
        catch (Exception e)
        {
            _log.Error(e, "Partition {0} failed on {1}; it is read again from offset {2}", Partition, message.GetType().Name, _tracker.Saved.Offset);
            End(ReadAgain: true, $"failed: {e.Message}");
            return true;
        }
    }

    // ---------------------------------------------------------------- preparing

    /// <summary>
    /// Before the first record: learn what the side topics already hold, save the marks if the
    /// checkpoint had none, and wait until the device shard can only start here. The stream waits
    /// for the answer to its init message meanwhile.
    /// </summary>
    private void Preparing()
    {
        Receive<StreamInit>(_ => _awaitingInit = Sender);
        Receive<ShardReady>(_ => OnShardReady());
        Receive<ShardNotReady>(OnShardNotReady);
        Receive<SidesReadBack>(OnSidesReadBack);
        Receive<SideReadBackFailed>(OnSideReadBackFailed);
        Receive<RetryReadBack>(_ => ReadSideTopicsBack());
        Receive<MarksSaved>(OnMarksSaved);
        Receive<MarksFailed>(OnMarksFailed);
        Receive<RetrySaveMarks>(_ => SaveMarks());
        // Nothing was taken yet: nothing to flush.
        Receive<StreamCompleted>(_ => End(ReadAgain: false, "stream completed"));
        Receive<Revoked>(_ => End(ReadAgain: false, "revoked"));
        Receive<Abandoned>(_ => End(ReadAgain: true, "offset out of range"));
        Receive<StreamFailed>(failed =>
        {
            _log.Warning(failed.Cause, "Partition {0}: stream failed before it took a record", Partition);
            End(ReadAgain: false, "stream failed");
        });
        // Neither the watermark nor the checkpoint can move before records may flow.
        Receive<IdleTick>(_ => { });
        Receive<PassivateTick>(_ => { });
        Receive<CommitTick>(_ => { });
        Receive<ResendTick>(_ => { });
        Receive<DeviceGap>(_ => { });
    }

    private void OnShardReady()
    {
        _shardReady = true;
        TryBecomeRunning();
    }

    private void OnShardNotReady(ShardNotReady failed)
    {
        // Cancelled once the partition has finished: it was revoked before its shard could start here.
        if (failed.Cause is not OperationCanceledException)
            _log.Error(failed.Cause, "Partition {0}: the shard hand-over check failed; the partition waits until it is revoked", Partition);
    }

    private void OnSidesReadBack(SidesReadBack read)
    {
        _sides = new SideOutputs(read.Ledgers, _context.Sides);
        var start = _tracker.Saved;
        _tracker.TakeCheckpoint(start.Watermark, Sides.MarksAt(start.Offset));
        var marked = read.Ledgers.All(side => start.SideMarks.Any(m => m.Topic == side.Topic && m.Partition == side.Partition));
        if (marked) TryBecomeRunning();
        else SaveMarks();
    }

    private void OnSideReadBackFailed(SideReadBackFailed failed)
    {
        _log.Warning(failed.Cause, "Partition {0}: could not read the side topics back; retrying", Partition);
        Timers.StartSingleTimer("read-back", RetryReadBack.Instance, TimeSpan.FromSeconds(1));
    }

    /// <summary>Saves the start with the marks of now: a crash before the first commit must leave the next owner somewhere to look.</summary>
    private void SaveMarks()
    {
        var progress = _tracker.Saved with { SideMarks = Sides.MarksAt(_tracker.Saved.Offset) };
        _context.Progress.SaveAsync(_context.ProgressKey, progress)
            .PipeTo(Self, success: () => new MarksSaved(progress), failure: e => new MarksFailed(e));
    }

    private void OnMarksSaved(MarksSaved saved)
    {
        _tracker.MarksSaved(saved.Progress);
        TryBecomeRunning();
    }

    private void OnMarksFailed(MarksFailed failed)
    {
        _log.Warning(failed.Cause, "Partition {0}: saving its side marks failed; retrying", Partition);
        Timers.StartSingleTimer("save-marks", RetrySaveMarks.Instance, TimeSpan.FromSeconds(1));
    }

    private void TryBecomeRunning()
    {
        if (_sides is null || !_shardReady || !_tracker.Saved.SideMarks.Any()) return;
        Become(Running);
        // Jumps made at the very offset the checkpoint resumes at, then the timers already due.
        ReplayJumpsUpTo(_tracker.NextOffset);
        WakeDue();
        _awaitingInit?.Tell(StreamAck.Instance);
        _awaitingInit = null;
    }

    private void ReadSideTopicsBack()
    {
        var partition = Partition;
        var start = _tracker.Saved;
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

    // ---------------------------------------------------------------- running

    private void Running()
    {
        Receive<StreamInit>(_ => Sender.Tell(StreamAck.Instance));
        Receive<RecordBatch>(OnRecords);
        Receive<DeviceAck>(OnDeviceAck);
        Receive<DeviceGap>(OnDeviceGap);
        Receive<Terminated>(OnDeviceStopped);
        Receive<WakeMeAt>(OnWakeMeAt);
        Receive<Covered>(OnCovered);
        Receive<DeviceLostState>(OnDeviceLostState);
        Receive<SideDelivered>(OnSideDelivered);
        Receive<SideFailed>(OnSideFailed);
        Receive<RetrySide>(retry =>
        {
            if (Sides.PendingRecord(retry.Offset) is { } record) Send(retry.Offset, record);
        });
        Receive<IdleTick>(_ => OnIdleTick());
        Receive<PassivateTick>(_ => PassivateIdle());
        Receive<BacklogRoom>(_ =>
        {
            _awaitingRoom = false;
            TryAck();
        });
        Receive<CommitTick>(_ =>
        {
            Commit();
            WatchCommit();
        });
        Receive<RetryCommit>(_ => Commit());
        Receive<ResendTick>(_ => ResendOverdue());
        Receive<ProgressSaved>(OnProgressSaved);
        Receive<ProgressFailed>(OnProgressFailed);
        Receive<StreamCompleted>(_ => BeginFlush());
        Receive<Revoked>(_ =>
        {
            BeginFlush();
            // Taken no more: whatever the stream still holds is left for the next owner.
            _waiting?.Stream.Tell(StreamAck.Instance);
            _waiting = null;
            _awaitingAck?.Tell(StreamAck.Instance);
            _awaitingAck = null;
        });
        Receive<Abandoned>(_ => End(ReadAgain: true, "offset out of range"));
        Receive<StreamFailed>(failed =>
        {
            _log.Warning(failed.Cause, "Partition {0}: stream failed; flushing what was taken", Partition);
            BeginFlush();
        });
        Receive<FlushTimeout>(_ => OnFlushTimeout());
    }

    private void OnRecords(RecordBatch records)
    {
        // Revoked or reading again: what the stream still delivers stays uncommitted, for the next reader.
        if (_completed)
        {
            records.Release();
            Sender.Tell(StreamAck.Instance);
            return;
        }
        // An idle jump is being saved: these records must be judged by it.
        if (_jumpBeingSaved is not null)
        {
            _waiting = (records, Sender);
            return;
        }
        Process(records);
        // Every record was copied out (events into runs, diverted ones to their side topic): its array may be filled again.
        records.Release();
        _awaitingAck = Sender;
        TryAck();
    }

    /// <summary>Asks the stream for the next batch unless devices, side topics or the store are behind.</summary>
    private void TryAck()
    {
        if (_awaitingAck is null || _completed) return;
        if (_outbox.InFlight > _context.MaxInFlight || Sides.Full || _jumpBeingSaved is not null) return;
        if (_context.Backlog.Full)
        {
            // Woken by the writer's next stored batch: the backlog bound may hold less than a timer tick of writing.
            if (_awaitingRoom) return;
            _awaitingRoom = true;
            _context.Backlog.Room().PipeTo(Self, success: () => BacklogRoom.Instance);
            return;
        }

        _awaitingAck.Tell(StreamAck.Instance);
        _awaitingAck = null;
    }

    private void Process(RecordBatch records)
    {
        using var span = CollectorTracing.PartitionBatch(Partition, records.Count);
        long events = 0;
        foreach (ref readonly var record in records.Records)
        {
            var offset = record.Offset;
            ReplayJumpsUpTo(offset);
            if (!_tracker.Read(offset))
            {
                Release(record);
                continue;
            }
            var value = record.Value ?? [];
            var timestamp = record.HasTimestamp ? record.Timestamp : (long?)null;
            var verdict = _judge.Judge(value, timestamp);
            switch (verdict.Fate)
            {
                case RecordFate.DeadLetter:
                    var reason = verdict.Reason.ToHeaderValue();
                    _context.Metrics.AddDeadLettered(reason);
                    Divert(offset, _context.DeadLetterTopic, record.Key, value, reason);
                    break;
                case RecordFate.TooLate:
                    events++;
                    _context.Metrics.AddTooLate(1);
                    Divert(offset, _context.TooLateTopic, record.Key, value, "too-late");
                    break;
                default:
                    events++;
                    var device = verdict.Event.DeviceId;
                    if (!_runs.TryGetValue(device, out var run)) _runs[device] = run = _spareRuns.TryPop(out var spare) ? spare : new Run();
                    run.Events.Add(new PartitionEvent(offset, verdict.JudgedBy, verdict.Event.Timestamp, verdict.Event.CpuUsage));
                    if (timestamp is { } appended && appended > run.NewestAppended) run.NewestAppended = appended;
                    Release(record);
                    break;
            }
        }
        ReplayJumpsUpTo(_tracker.NextOffset);
        _context.Metrics.AddRecordsIn(records.Count);
        _context.Metrics.SetRead(Partition, _tracker.NextOffset);
        _context.Metrics.AddEventsIn(events);

        foreach (var (device, run) in _runs)
        {
            var first = run.Events[0];
            // The device first catches up with the first record's watermark: windows below it may close.
            ToDevice(device, first.Offset, Below(first.JudgedBy), (Device: device, Run: run, Epoch: _tracker.Saved.RecordsEpoch, Self, Partition),
                static (d, s) => new DeviceEvents(s.Device, s.Partition, s.Self, s.Epoch, s.Run.Events[0], s.Run.Events.Count == 1 ? [] : CollectionsMarshal.AsSpan(s.Run.Events)[1..].ToArray())
                {
                    Delivery = d,
                    NewestAppended = s.Run.NewestAppended,
                });
            run.Events.Clear();
            run.NewestAppended = 0;
            _spareRuns.Push(run);
        }
        _runs.Clear();
        // The watermark after this batch is the one the next record will be judged by.
        TakeCheckpoint();
        WakeDue();
    }

    /// <summary>Hands a judged record's bytes back to the consumer: only a diverted record's are kept, by its side topic.</summary>
    private void Release(in KafkaRecord record)
    {
        if (_context.RecordBytes is not { } pool) return;
        pool.Return(record.Key);
        pool.Return(record.Value);
    }

    /// <summary>Idle jumps the checkpoint carries, made again where they first happened: before the record at their offset is judged.</summary>
    private void ReplayJumpsUpTo(long offset)
    {
        while (_replayJumps.TryPeek(out var jump) && jump.Offset <= offset)
        {
            _replayJumps.Dequeue();
            _judge.Watermark.JumpTo(jump.Watermark);
        }
    }

    private void TakeCheckpoint() => _tracker.TakeCheckpoint(Watermark, Sides.MarksAt(_tracker.NextOffset));

    private void WakeDue()
    {
        var watermark = Watermark;
        foreach (var (device, time) in _tracker.TakeDue(watermark)) Wake(device, time);
        _context.Metrics.SetWatermark(Partition, watermark);
        if (watermark == _reportedWatermark) return;
        _reportedWatermark = watermark;
        _context.TopN.Tell(new PartitionWatermark(Partition, watermark));
    }

    /// <summary>Wakes a device that asked for <paramref name="time"/>: it has nothing to close below it.</summary>
    private void Wake(string device, long time)
    {
        var watermark = Watermark;
        ToDevice(device, _tracker.NextOffset, Below(time), (Device: device, Watermark: watermark, Self, Partition),
            static (d, s) => new AdvanceWatermark(s.Device, s.Partition, s.Self, s.Watermark) { Delivery = d });
    }

    private static long Below(long watermark) => watermark == long.MinValue ? long.MinValue : watermark - 1;

    /// <summary>
    /// Sends a numbered message to a device; the partition may not commit past <paramref name="position"/>, nor
    /// call windows closing above <paramref name="closesAbove"/> stored, until a snapshot of the device holds it.
    /// </summary>
    private void ToDevice<TState>(string device, long position, long closesAbove, TState state, Func<Delivery, TState, IFromPartition> message)
    {
        var line = _outbox.LineOf(device);
        var stamped = _outbox.Stamp(line, state, message, Now);
        _tracker.Sent(device, stamped.Delivery.Seq, position, closesAbove);
        Deliver(line.Route, stamped);
    }

    /// <summary>Straight to the device where its address is known, else through the shard region (which starts it).</summary>
    private void Deliver(IActorRef? route, IFromPartition message) => (route ?? _context.Devices).Tell(message);

    private void Deliver(IFromPartition message) => Deliver(_outbox.RouteOf(message.DeviceId), message);

    private long Now => _context.Clock.GetUtcNow().ToUnixTimeMilliseconds();

    // ---------------------------------------------------------------- devices

    private void OnDeviceAck(DeviceAck ack)
    {
        if (_outbox.Ack(ack.DeviceId, ack.Seq, Now, Sender, ack.Slot)) Context.Watch(Sender);
        TryAck();
    }

    private void OnDeviceGap(DeviceGap gap)
    {
        var again = _outbox.AfterGap(gap.DeviceId, Now, minInterval: 1_000);
        // Debug, not info: a device's first direct message can overtake one still in the shard region, so at
        // start a gap per device is ordinary; messages really lost show in the overdue resend's info line.
        if (again.Count > 0) _log.Debug("Partition {0}: device {1} missed a message; sending its {2} unacknowledged again", Partition, gap.DeviceId, again.Count);
        foreach (var message in again) Deliver(message);
    }

    /// <summary>
    /// A device stopped (passivated, handed off, failed to recover): what it had not acknowledged may have
    /// reached it too late, so it goes again, through the region, which starts the device anew.
    /// </summary>
    private void OnDeviceStopped(Terminated stopped)
    {
        // Handing over: the shard may be on its way to the next owner, which reads from the last commit itself.
        if (_outbox.Forget(stopped.ActorRef) is not { } device || _completed) return;
        foreach (var message in _outbox.AfterGap(device, Now, minInterval: 0)) Deliver(message);
    }

    /// <summary>Asks devices this partition has sent nothing for <c>devices.passivate-after</c> to leave memory.</summary>
    private void PassivateIdle()
    {
        foreach (var device in _outbox.Idle(Now, (long)_context.PassivateAfter.TotalMilliseconds)) device.Tell(PassivateDevice.Instance);
    }

    private void ResendOverdue()
    {
        var again = _outbox.Overdue(Now, (long)_context.ResendAfter.TotalMilliseconds);
        if (again.Count == 0) return;
        _log.Info("Partition {0}: sending {1} unacknowledged messages to {2} devices again", Partition, again.Count, again.Select(m => m.DeviceId).Distinct().Count());
        foreach (var message in again) Deliver(message);
    }

    private void OnWakeMeAt(WakeMeAt wake)
    {
        _tracker.SetTimer(wake.DeviceId, wake.Watermark);
        // Already due: woken at once, and remembered like any timer that fired.
        if (wake.Watermark <= Watermark) WakeDue();
    }

    private void OnCovered(Covered covered)
    {
        _tracker.Covered(covered.DeviceId, covered.ThroughSeq, covered.ThroughOffset);
        CheckFlushed();
    }

    private void OnDeviceLostState(DeviceLostState lost)
    {
        if (_completed) return;
        _log.Warning("Partition {0}: device {1} lost state it had acknowledged; reading the partition again from offset {2}", Partition, lost.DeviceId, _tracker.Saved.Offset);
        // No flush: the device's snapshot holds less than it acknowledged, so what the others snapshot
        // now could not be committed past its loss anyway; the last commit is where reading resumes.
        End(ReadAgain: true, $"device {lost.DeviceId} lost state");
    }

    // ---------------------------------------------------------------- side topics

    private void Divert(long offset, string topic, byte[]? key, byte[] value, string reason)
    {
        if (Sides.Divert(offset, topic, key, value, reason) is { } record) Send(offset, record);
    }

    private void Send(long offset, SideRecord record) =>
        _context.SideOutput.SendAsync(new TopicPartition(record.Topic, record.Partition), record.Key, record.Value, record.Reason, Partition, offset, record.OriginalSize)
            .PipeTo(Self,
                success: sideOffset => new SideDelivered(offset, sideOffset),
                failure: e => new SideFailed(offset, e is AggregateException { InnerException: { } inner } ? inner : e));

    private void OnSideDelivered(SideDelivered delivered)
    {
        Sides.Delivered(delivered.Offset, delivered.SideOffset);
        ReportHeldBack();
        TryAck();
        CheckFlushed();
    }

    private void OnSideFailed(SideFailed failed)
    {
        var error = failed.Cause is KafkaException kafka ? kafka.Error.Code : ErrorCode.Unknown;
        if (Sides.Failed(failed.Offset, error) is not { } retry) return;
        if (retry.Attempts == 0)
        {
            _log.Warning("Partition {0}: record {1} is too large for {2} ({3}); sending its first {4} bytes with truncated: true",
                Partition, failed.Offset, retry.Record.Topic, failed.Cause.Message, retry.Record.Value.Length);
            Send(failed.Offset, retry.Record);
            return;
        }
        // The first failure says why; the retries after it would only bury the operator's log.
        if (retry.Attempts == 1)
            _log.Warning(failed.Cause, "Partition {0}: record {1} could not be sent to {2}; commits wait for it, retrying with backoff", Partition, failed.Offset, retry.Record.Topic);
        else
            _log.Debug("Partition {0}: record {1} failed {2} times; retrying in {3}", Partition, failed.Offset, retry.Attempts, retry.Delay);
        ReportHeldBack();
        Timers.StartSingleTimer("side-" + failed.Offset, new RetrySide(failed.Offset), retry.Delay);
    }

    private void ReportHeldBack()
    {
        if (Sides.HeldBack == _heldBack) return;
        _heldBack = Sides.HeldBack;
        if (!_heldBack) _log.Info("Partition {0}: every side record went through; no longer held back", Partition);
        _context.HeldBackChanged(_heldBack);
    }

    // ---------------------------------------------------------------- watermark and commits

    /// <summary>
    /// Idle means nothing to read, not records waiting behind backpressure or a paused fetch. The jump
    /// is saved before it is applied: records after it are judged by it, so a replay must make it too,
    /// at the same offset.
    /// </summary>
    private void OnIdleTick()
    {
        TryAck();
        if (_completed || _saving || _jumpBeingSaved is not null) return;
        if (_context.Consumer.HighWatermark(_context.TopicPartition) > _tracker.NextOffset) return;
        if (_judge.Watermark.IdleTarget() is not { } target) return;
        _tracker.Jumped(target);
        _jumpBeingSaved = target;
        // A progress that carries the jump is always due; should it not be, nothing is gained by waiting.
        if (!Commit()) ApplyJump();
    }

    /// <summary>Saves the due progress, if any and if no save is under way; true when a save started.</summary>
    private bool Commit()
    {
        if (_saving || _tracker.Due(Sides.LowestPending, Watermark) is not { } due) return false;
        _saving = true;
        _context.Progress.SaveAsync(_context.ProgressKey, due.Progress)
            .PipeTo(Self, success: () => new ProgressSaved(due), failure: e => new ProgressFailed(e));
        return true;
    }

    /// <summary>Warns of a commit that stands still while records are read past it, naming what holds it (<see cref="CommitStall"/>).</summary>
    private void WatchCommit()
    {
        var committed = _tracker.Saved.Offset;
        var verdict = _stall.Check(Now, committed, _tracker.NextOffset);
        if (verdict.State == CommitStallState.Stalled)
        {
            var holding = _tracker.OldestUncovered(3).Select(d => $"{_tracker.DescribeUncovered(d)}, {_outbox.UnackedOf(d)} unacknowledged");
            _log.Warning(
                "Partition {0}: the commit has stood at offset {1} for {2:0} s with {3} records read past it; a restart would read them again. Waiting on {4} devices' snapshots (furthest back: {5}) and {6} side records",
                [Partition, committed, verdict.ForMs / 1000.0, _tracker.NextOffset - committed, _tracker.UncoveredDevices, string.Join("; ", holding), Sides.PendingCount]);
        }
        else if (verdict.State == CommitStallState.Resumed)
        {
            _log.Info("Partition {0}: the commit moves again (offset {1}) after standing still for {2:0} s", Partition, committed, verdict.ForMs / 1000.0);
        }
    }

    private void OnProgressSaved(ProgressSaved saved)
    {
        _saving = false;
        _tracker.MarkSaved(saved.Due);
        _context.Consumer.Commit(_context.TopicPartition, saved.Due.Progress.Offset);
        _context.Metrics.SetCommitted(Partition, saved.Due.Progress.Offset);
        ApplyJump();
        CheckFlushed();
    }

    /// <summary>The idle jump is durable: the watermark moves, devices due wake, and the records that waited for it are taken.</summary>
    private void ApplyJump()
    {
        if (_jumpBeingSaved is not { } jump) return;
        _jumpBeingSaved = null;
        _judge.Watermark.JumpTo(jump);
        TakeCheckpoint();
        WakeDue();
        if (_waiting is not { } waiting) return;
        _waiting = null;
        Self.Tell(waiting.Records, waiting.Stream);
    }

    private void OnProgressFailed(ProgressFailed failed)
    {
        _saving = false;
        _log.Warning(failed.Cause, "Partition {0}: saving progress failed; retrying", Partition);
        // A jump waiting to be saved holds the records back: retry soon rather than at the next commit.
        if (_jumpBeingSaved is not null) Timers.StartSingleTimer("retry-commit", RetryCommit.Instance, TimeSpan.FromSeconds(1));
    }

    // ---------------------------------------------------------------- ending

    private void BeginFlush()
    {
        if (_completed) return;
        _completed = true;
        foreach (var device in _tracker.UncoveredDeviceIds.ToList())
            ToDevice(device, _tracker.NextOffset, long.MaxValue, (Device: device, Self, Partition), static (d, s) => new FlushDevice(s.Device, s.Partition, s.Self) { Delivery = d });
        Timers.StartSingleTimer("flush-timeout", FlushTimeout.Instance, _context.FlushTimeout);
        CheckFlushed();
    }

    /// <summary>Once the stream has ended: commit what became safe, and finish when everything taken is committed.</summary>
    private void CheckFlushed()
    {
        if (!_completed || _saving || _end is not null) return;
        if (_tracker.Saved.Offset < _tracker.NextOffset || _tracker.Due(Sides.LowestPending, Watermark) is not null)
        {
            Commit();
            return;
        }
        End(ReadAgain: false, "handed over");
    }

    private void OnFlushTimeout()
    {
        _log.Warning("Partition {0}: {1} devices (e.g. {2}) and {3} side records still uncovered after {4}; the next owner replays from offset {5}",
            Partition, _tracker.UncoveredDevices, string.Join(", ", _tracker.UncoveredDeviceIds.Take(3).Select(d => $"{_tracker.DescribeUncovered(d)}, {_outbox.UnackedOf(d)} unacknowledged")), Sides.PendingCount, _context.FlushTimeout, _tracker.Saved.Offset);
        End(ReadAgain: false, "flush timed out");
    }

    private void End(bool ReadAgain, string why)
    {
        if (_end is not null) return;
        _completed = true;
        _end = new PartitionEnd(_tracker.Saved.Offset, ReadAgain, why);
        Context.Stop(Self);
    }

    // ---------------------------------------------------------------- messages

    /// <summary>One device's events of a batch, sent as one message.</summary>
    private sealed class Run
    {
        public readonly List<PartitionEvent> Events = new(4);
        public long NewestAppended;
    }

    private sealed class BacklogRoom
    {
        public static readonly BacklogRoom Instance = new();
    }

    private sealed class ShardReady
    {
        public static readonly ShardReady Instance = new();
    }

    private sealed record ShardNotReady(Exception Cause);

    private sealed record SideDelivered(long Offset, long SideOffset);

    private sealed record SidesReadBack(IReadOnlyList<SideLedger> Ledgers);

    private sealed record SideReadBackFailed(Exception Cause);

    private sealed record SideFailed(long Offset, Exception Cause);

    private sealed record RetrySide(long Offset);

    private sealed record ProgressSaved(DueProgress Due);

    private sealed record ProgressFailed(Exception Cause);

    private sealed record MarksSaved(PartitionProgress Progress);

    private sealed record MarksFailed(Exception Cause);

    private sealed class RetryReadBack
    {
        public static readonly RetryReadBack Instance = new();
    }

    private sealed class RetrySaveMarks
    {
        public static readonly RetrySaveMarks Instance = new();
    }

    private sealed class RetryCommit
    {
        public static readonly RetryCommit Instance = new();
    }

    private sealed class PassivateTick
    {
        public static readonly PassivateTick Instance = new();
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

    private sealed class Abandoned
    {
        public static readonly Abandoned Instance = new();
    }
}
