using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;
using Akka.Persistence;
using MetricsCollector.Core.Windows;
using MetricsCollector.Observability;

namespace MetricsCollector.Devices;

/// <summary>
/// One device on one partition: drives its <see cref="DeviceWindows"/> with the records and
/// watermarks its partition sends, hands the rows (its parts of them) to the result writer, and
/// snapshots. A device whose records arrive on several partitions has one such actor per
/// partition, each with its own persistence id, and the store merges their parts. Kafka is the
/// event log: no event is journaled; a snapshot records the last offset applied, a replay skips
/// what the snapshot holds, and the partition commits only offsets every device has covered
/// (<see cref="Covered"/>). A snapshot is saved only after the rows it implies are
/// stored, so that nothing the snapshot skips on replay can be missing from the store.
/// </summary>
public sealed class DeviceActor : UntypedPersistentActor
{
    private readonly DeviceSettings _settings;
    private readonly IActorRef _writer;
    private readonly CollectorMetrics _metrics;
    private readonly TimeProvider _clock;
    // Not Akka's timers: see DeviceAlarms. An alarm is never cancelled, so each is checked against the state below when it rings.
    private readonly DeviceAlarms _alarms;
    private readonly DeliveryGate _gate = new();

    private DeviceWindows _windows;
    private AppliedOffset? _applied;
    // Known from the partition's first message (after a hand-over, a new one's).
    private IActorRef? _partitionActor;
    private long _reportedFired;
    private long _rowSequence;
    // Freshness only (mc_event_to_visible): not in snapshots, a restarted device starts without it.
    private long _newestAppended;
    private long _rowsStoredThrough;
    private long _lastWake = long.MaxValue;
    private int _changesSinceSnapshot;
    // Whether a snapshot is due at _snapshotDueAt (alarms' clock, epoch ms); kept here, not asked of a scheduler on every message.
    private bool _snapshotScheduled;
    private long _snapshotDueAt;
    // When the save under way is given up on (alarms' clock).
    private long _saveDeadline;
    private PendingSnapshot? _pending;
    private bool _saving;
    // Stamps of saves (see NextStamp): taken when the pending snapshot was made, and of the save under way.
    private DateTime _pendingSince;
    private DateTime _attempt;
    private DateTime _lastStamp;
    private int _snapshotFailures;
    private bool _snapshotAgain;
    private bool _stopping;
    // Set when this actor failed and started again from its snapshot (see OnRestarted).
    private bool _restarted;
    private IActorRef? _refusedFrom;

    public DeviceActor(string deviceId, int partition, DeviceSettings settings, IActorRef writer, CollectorMetrics metrics, TimeProvider clock, DeviceAlarms alarms)
    {
        DeviceId = deviceId;
        Partition = partition;
        _settings = settings;
        _writer = writer;
        _metrics = metrics;
        _clock = clock;
        _alarms = alarms;
        _windows = new DeviceWindows(deviceId, partition, settings.Windows);
    }

    public string DeviceId { get; }

    public int Partition { get; }

    // Per partition: two partitions' actors of one device must never load each other's snapshots.
    public override string PersistenceId => "device-" + DeviceShardMessageExtractor.EntityIdOf(DeviceId, Partition);

    public static Props Props(string deviceId, int partition, DeviceSettings settings, IActorRef writer, CollectorMetrics metrics, TimeProvider clock, DeviceAlarms alarms) =>
        Akka.Actor.Props.Create(() => new DeviceActor(deviceId, partition, settings, writer, metrics, clock, alarms));

    protected override void OnRecover(object message)
    {
        if (message is SnapshotOffer offer) Restore((byte[])offer.Snapshot);
    }

    // A switch, not ReceivePersistentActor's handlers: those are a dozen delegates and matchers
    // per actor, about 1.3 KB for each of a node's 100,000 devices.
    protected override void OnCommand(object message)
    {
        switch (message)
        {
            case IFromPartition fromPartition:
                FromPartition(fromPartition);
                break;
            case RowsStored stored:
                _rowsStoredThrough = Math.Max(_rowsStoredThrough, stored.Sequence);
                TrySave();
                break;
            // Answers are matched to saves by the stamp each save carries: one given up on (SaveUnanswered) may
            // still be answered long after. A late success counts only for the snapshot it saved (taken for a
            // newer one, it would report as covered changes no snapshot holds); a late failure not at all (taken
            // for the current save, it would start a save no change asked for).
            case SaveSnapshotSuccess success:
                if (_pending is not null && success.Metadata.Timestamp > _pendingSince) OnSaved();
                break;
            case SaveSnapshotFailure failure:
                if (_saving && failure.Metadata.Timestamp == _attempt) OnSaveFailed(failure.Cause);
                break;
            // Seen after a store outage: a save the snapshot store never answered, which left the device
            // waiting for good and its partition's commits with it.
            case SaveUnanswered:
                if (_saving && _alarms.NowMs() >= _saveDeadline) OnSaveFailed(new TimeoutException($"the snapshot store did not answer within {_settings.SnapshotTimeout}"));
                break;
            case RetrySave:
                TrySave();
                break;
            case SnapshotDue:
                // Rung for a due time this device still holds, not one a snapshot since has made void.
                if (!_snapshotScheduled || _alarms.NowMs() < _snapshotDueAt) break;
                _snapshotScheduled = false;
                RequestSnapshot();
                break;
            case PassivateDevice:
                // Idle: the shard stops it with StopDevice and keeps what arrives meanwhile for the next start.
                if (!_stopping) Context.Parent.Tell(new Passivate(StopDevice.Instance));
                break;
            // The shard sends this to stop a device: on hand-off, and after PassivateDevice.
            case StopDevice:
                _stopping = true;
                if (_changesSinceSnapshot == 0 && _pending is null) Context.Stop(Self);
                else RequestSnapshot();
                break;
            // The live route's question: read-only, so it changes no state and owes no acknowledgement or snapshot.
            case GetOpenWindows:
                Sender.Tell(new OpenWindows(_windows.OpenWindows(_clock.GetUtcNow().ToUnixTimeMilliseconds())));
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void Handle(IFromPartition message)
    {
        switch (message)
        {
            case DeviceEvents events:
                Apply(events);
                break;
            case AdvanceWatermark advance:
                OnAdvance(advance);
                break;
            case FlushDevice flush:
                OnFlush(flush);
                break;
            default:
                throw new ArgumentException($"no handler for the partition's {message.GetType().Name}", nameof(message));
        }
    }

    private void OnAdvance(AdvanceWatermark advance)
    {
        _partitionActor = advance.PartitionActor;
        _windows.Advance(advance.Watermark);
        // A wake-up that fired or closed nothing needs no snapshot to be covered.
        if (_windows.HasResults) AfterChange(1);
        else ReportCoveredIfSaved(advance.Partition);
    }

    private void OnFlush(FlushDevice flush)
    {
        _partitionActor = flush.PartitionActor;
        if (!ReportCoveredIfSaved(flush.Partition)) RequestSnapshot();
    }

    protected override void PreStart()
    {
        base.PreStart();
        _metrics.DeviceStarted();
    }

    protected override void PostStop()
    {
        _metrics.DeviceStopped();
        base.PostStop();
    }

    protected override bool AroundReceive(Receive receive, object message)
    {
        using var busy = _metrics.Time(BusyActor.Device);
        // Once recovered, Akka.Persistence makes a closure for every command (64 B, 8 % of what the node
        // allocated per event) to complete journal writes after it; this actor journals nothing, so its
        // partition's messages go to the handler straight. Before recovery ends they go through it to be stashed.
        if (message is IFromPartition && IsRecoveryFinished) return receive(message);
        return base.AroundReceive(receive, message);
    }

    /// <summary>
    /// A device that threw started again from its last snapshot: what it handled since is gone, though
    /// its partition holds it acknowledged and may commit past it once a later snapshot reports later
    /// offsets covered. So it handles nothing more from the partition actor that sent those messages
    /// and asks it to read the partition again from its last commit (<see cref="DeviceLostState"/>);
    /// that commit is below everything this device has not snapshotted, and the partition actor that
    /// reads it again is a new one, whose messages it takes.
    /// </summary>
    protected override void PostRestart(Exception reason)
    {
        base.PostRestart(reason);
        _restarted = true;
        Log.Warning(reason, "Device {0} on partition {1} failed and restarts from its snapshot; its partition will read again from its last commit", DeviceId, Partition);
    }

    /// <summary>Handles a partition's message once and in order (<see cref="DeliveryGate"/>), and acknowledges it.</summary>
    private void FromPartition(IFromPartition message)
    {
        // Told to stop, it takes nothing more: the partition sends to a device directly, so messages come after
        // the stop, and one handled now would be acknowledged (never sent again) but in no snapshot once this
        // stops. Unacknowledged, it goes again to the next start when the partition sees this one end.
        if (_stopping) return;
        if (_restarted)
        {
            if (_refusedFrom is null || _refusedFrom.Equals(message.PartitionActor))
            {
                _refusedFrom = message.PartitionActor;
                message.PartitionActor.Tell(new DeviceLostState(DeviceId));
                return;
            }
            _restarted = false;
            _refusedFrom = null;
        }
        switch (_gate.Check(message))
        {
            case DeliveryVerdict.Gap:
                // Not acknowledged: the partition sends everything from the gap again.
                Log.Debug("Device {0}: message {1} from partition {2} arrived after a gap; asking for the rest again", DeviceId, message.Delivery.Seq, message.Partition);
                message.PartitionActor.Tell(new DeviceGap(DeviceId));
                return;
            case DeliveryVerdict.Handle:
                Handle(message);
                break;
        }
        // The message's own id: the partition's instance of it, which it compares by reference first.
        message.PartitionActor.Tell(new DeviceAck(message.DeviceId, message.Delivery.Seq, message.Delivery.Slot));
    }

    private void Restore(byte[] bytes)
    {
        var snapshot = DeviceSnapshot.FromBytes(bytes);
        _windows = snapshot.RestoreWindows(DeviceId, Partition, _settings.Windows);
        _applied = snapshot.Applied;
    }

    private void Apply(DeviceEvents events)
    {
        _partitionActor = events.PartitionActor;
        _newestAppended = Math.Max(_newestAppended, events.NewestAppended);
        // Offsets of another broker (a fresh one starts again at 0) say nothing about what this device holds.
        var applied = _applied is { } through && through.Epoch == events.Epoch ? through.Offset : -1;
        var changes = 0;
        long late = 0;
        ApplyOne(events.First, ref applied, ref changes, ref late);
        foreach (var e in events.Rest) ApplyOne(e, ref applied, ref changes, ref late);
        _applied = new AppliedOffset(applied, events.Epoch);
        if (late > 0) _metrics.AddLateEvents(late);
        _metrics.AddEventsApplied(changes);
        if (changes > 0) AfterChange(changes);
        // A replay of only what the last snapshot holds changes nothing, so no snapshot follows to
        // report it: say now that it is covered, or the partition's commit waits below these
        // offsets until this device gets a new record, and a device that stays quiet holds it for good.
        else ReportCoveredIfSaved(events.Partition);
    }

    private void ApplyOne(in PartitionEvent e, ref long applied, ref int changes, ref long late)
    {
        // A replay after a crash resends what this device's snapshot already holds.
        if (e.Offset <= applied) return;
        // Counted events only: the partition sent the too-late ones to their topic, and its messages
        // come in its order, so no watermark newer than an event's JudgedBy reached this device first.
        if (_windows.Add(e.Timestamp, e.CpuUsage, e.JudgedBy) == EventTiming.Late) late++;
        applied = e.Offset;
        changes++;
    }

    private void AfterChange(int changes)
    {
        // Most messages fire nothing: the clock is read only for rows.
        if (_windows.HasResults)
        {
            var rows = _windows.TakeResults(_clock.GetUtcNow().ToUnixTimeMilliseconds());
            if (rows.Count > 0) _writer.Tell(new StoreRows(rows, ++_rowSequence) { NewestAppended = _newestAppended });
        }
        _metrics.AddWindowsFired(_windows.WindowsFired - _reportedFired);
        _reportedFired = _windows.WindowsFired;

        var wake = _windows.NextWakeUp();
        if (wake != _lastWake)
        {
            _lastWake = wake;
            _partitionActor?.Tell(new WakeMeAt(DeviceId, wake));
        }

        _changesSinceSnapshot += changes;
        if (_changesSinceSnapshot >= _settings.SnapshotAfterEvents) RequestSnapshot();
        else ScheduleSnapshot();
    }

    /// <summary>
    /// Unsaved changes are snapshotted within the interval. While a snapshot is being saved the timer
    /// waits; the save's end schedules it again, for changes made meanwhile are in no snapshot, and a
    /// device that gets nothing more would otherwise hold its partition's commit until it is passivated.
    /// </summary>
    private void ScheduleSnapshot()
    {
        if (_changesSinceSnapshot == 0 || _pending is not null || _snapshotScheduled) return;
        _snapshotDueAt = _alarms.NowMs() + (long)_settings.SnapshotInterval.TotalMilliseconds;
        _alarms.SetAt(Self, SnapshotDue.Instance, _snapshotDueAt);
        _snapshotScheduled = true;
    }

    private void RequestSnapshot()
    {
        if (_pending is not null)
        {
            _snapshotAgain = true;
            return;
        }
        _snapshotScheduled = false;
        var bytes = new DeviceSnapshot(_windows.ToSnapshot(), _applied).ToBytes();
        _pending = new PendingSnapshot(bytes, _applied, _rowSequence, _gate.Position(Partition));
        _pendingSince = NextStamp();
        _changesSinceSnapshot = 0;
        TrySave();
    }

    private void TrySave()
    {
        if (_pending is null || _saving || _rowsStoredThrough < _pending.RowsNeeded) return;
        _saving = true;
        // Akka's SaveSnapshot would leave the stamp to the store; a stamp of this device's own names this save.
        _attempt = NextStamp();
        SnapshotStore.Tell(new SaveSnapshot(new SnapshotMetadata(SnapshotterId, SnapshotSequenceNr, _attempt), _pending.Bytes));
        _saveDeadline = _alarms.NowMs() + (long)_settings.SnapshotTimeout.TotalMilliseconds;
        _alarms.SetAt(Self, SaveUnanswered.Instance, _saveDeadline);
    }

    /// <summary>
    /// 1 s, 2 s, 4 s, then 5 s, each ±25 %: a store that is down is not hammered by every device at
    /// once, and the circuit breaker in front of it, half open, lets only one call through anyway.
    /// </summary>
    private static TimeSpan SnapshotRetryDelay(int failures) =>
        TimeSpan.FromSeconds(Math.Min(5.0, Math.Pow(2, Math.Min(failures, 4) - 1)) * (0.75 + Random.Shared.NextDouble() * 0.5));

    private void OnSaveFailed(Exception cause)
    {
        _saving = false;
        _metrics.AddSnapshotFailure();
        _snapshotFailures++;
        var delay = SnapshotRetryDelay(_snapshotFailures);
        // Every device of a node fails together while the store is down: one warning each, with
        // the cause, says so; the retries after it would only bury the operator's log.
        if (_snapshotFailures == 1) Log.Warning(cause, "Snapshot of device {0} failed; retrying in {1}", DeviceId, delay);
        else Log.Debug("Snapshot of device {0} failed {1} times in a row; retrying in {2}", DeviceId, _snapshotFailures, delay);
        // A retry that rings after a save it was not for has begun finds one under way, and waits.
        _alarms.Set(Self, RetrySave.Instance, delay);
    }

    /// <summary>Later than every stamp this instance gave before; a restarted instance's clock is past its predecessor's.</summary>
    private DateTime NextStamp()
    {
        var now = _clock.GetUtcNow().UtcDateTime;
        _lastStamp = now > _lastStamp ? now : _lastStamp.AddTicks(1);
        return _lastStamp;
    }

    private void OnSaved()
    {
        if (_pending is not { } saved) return;
        _saving = false;
        _pending = null;
        if (_snapshotFailures > 0) Log.Debug("Snapshot of device {0} saved after {1} failures", DeviceId, _snapshotFailures);
        _snapshotFailures = 0;
        _metrics.AddSnapshot(saved.Bytes.Length);

        if (_snapshotAgain)
        {
            _snapshotAgain = false;
            if (_changesSinceSnapshot > 0) RequestSnapshot();
        }
        // With nothing changed since the save began, it also holds the messages handled meanwhile that
        // changed nothing (a wake-up that fired no window): they were not reported then, and no later
        // snapshot would report them.
        if (!ReportCoveredIfSaved(Partition)) ReportCovered(saved.Stream, saved.Applied);
        ScheduleSnapshot();
        if (_pending is null && _stopping) Context.Stop(Self);
    }

    /// <summary>With nothing unsaved, says at once that the last snapshot covers every message handled; false when a snapshot must come first.</summary>
    private bool ReportCoveredIfSaved(int partition)
    {
        if (_changesSinceSnapshot > 0 || _pending is not null) return false;
        ReportCovered(_gate.Position(partition), _applied);
        return true;
    }

    /// <summary>Tells the partition actor whose messages a snapshot holds how far it holds them.</summary>
    private void ReportCovered((IActorRef From, long Handled)? stream, AppliedOffset? applied)
    {
        if (stream is not { } position) return;
        position.From.Tell(new Covered(DeviceId, position.Handled, applied?.Offset ?? -1));
    }

    /// <param name="Stream">The partition actor whose messages the snapshot holds, up to which number.</param>
    private sealed record PendingSnapshot(byte[] Bytes, AppliedOffset? Applied, long RowsNeeded, (IActorRef From, long Handled)? Stream);

    // An alarm outlives the device that set it when the device stops first: not a dead letter worth a log line.
    private sealed class SnapshotDue : IDeadLetterSuppression
    {
        public static readonly SnapshotDue Instance = new();
    }

    private sealed class SaveUnanswered : IDeadLetterSuppression
    {
        public static readonly SaveUnanswered Instance = new();
    }

    private sealed class RetrySave : IDeadLetterSuppression
    {
        public static readonly RetrySave Instance = new();
    }
}

/// <summary>The stop message of device shards: snapshot first, then stop (hand-off and passivation).</summary>
public sealed class StopDevice
{
    public static readonly StopDevice Instance = new();

    private StopDevice() { }
}
