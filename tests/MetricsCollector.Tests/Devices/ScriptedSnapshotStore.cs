using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Snapshot;
using Akka.TestKit.Xunit2;
using MetricsCollector.Core.Windows;
using MetricsCollector.Devices;
using MetricsCollector.Observability;

namespace MetricsCollector.Tests.Devices;

/// <summary>
/// A snapshot store whose saves of each persistence id answer as a test scripts them (late, never,
/// with a failure), as a store does around an outage; unless scripted, later saves are stored at
/// once. Loads give the last stored snapshot.
/// </summary>
public abstract class ScriptedSnapshotStore : SnapshotStore
{
    private readonly Dictionary<string, int> _saves = new();
    private readonly Dictionary<string, SelectedSnapshot> _saved = new();

    /// <summary>The in-memory journal and <typeparamref name="TStore"/> as the snapshot store, with a breaker that never times a call out.</summary>
    public static Config ConfigFor<TStore>() where TStore : ScriptedSnapshotStore => ConfigurationFactory.ParseString($$"""
        akka.persistence.journal.plugin = "akka.persistence.journal.inmem"
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.scripted"
        akka.persistence.snapshot-store.scripted {
          class = "{{typeof(TStore).AssemblyQualifiedName}}"
          circuit-breaker { max-failures = 10, call-timeout = 1h, reset-timeout = 1s }
        }
        """);

    /// <summary>Runs before a persistence id's first save is stored: throw to fail it, never end to leave it unanswered.</summary>
    protected abstract Task FirstSaveAsync(CancellationToken ct);

    /// <summary>Runs before a persistence id's later saves are stored (<paramref name="number"/> 2 is its second).</summary>
    protected virtual Task LaterSaveAsync(int number, CancellationToken ct) => Task.CompletedTask;

    /// <summary>Runs as any save begins.</summary>
    protected virtual void SaveBegins(SnapshotMetadata metadata) { }

    protected override Task<SelectedSnapshot?> LoadAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken = default) =>
        Task.FromResult(_saved.GetValueOrDefault(persistenceId));

    protected override async Task SaveAsync(SnapshotMetadata metadata, object snapshot, CancellationToken cancellationToken = default)
    {
        SaveBegins(metadata);
        var number = _saves[metadata.PersistenceId] = _saves.GetValueOrDefault(metadata.PersistenceId) + 1;
        await (number == 1 ? FirstSaveAsync(cancellationToken) : LaterSaveAsync(number, cancellationToken));
        _saved[metadata.PersistenceId] = new SelectedSnapshot(metadata, snapshot);
    }

    protected override Task DeleteAsync(SnapshotMetadata metadata, CancellationToken cancellationToken = default) => Task.CompletedTask;

    protected override Task DeleteAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken = default) => Task.CompletedTask;
}

/// <summary>A device on partition 0 over a <see cref="ScriptedSnapshotStore"/>, and a probe for what it tells its partition.</summary>
public abstract class ScriptedSnapshotTestKit(Config persistence) : TestKit(persistence)
{
    // Fine enough for the 300 ms intervals and timeouts these tests wait for.
    private readonly DeviceAlarms _alarms = new(TimeProvider.System, TimeSpan.FromMilliseconds(10));

    protected override void Dispose(bool disposing)
    {
        if (disposing) _alarms.Dispose();
        base.Dispose(disposing);
    }

    protected static DeviceSettings Settings(int snapshotAfterEvents, TimeSpan interval, TimeSpan timeout) =>
        new(new WindowSettings(new WindowSpec(60_000, 10_000), 5_000), snapshotAfterEvents, interval, timeout);

    /// <summary>The partition's side: what the device covers (wake-up requests left out, and acks unless <paramref name="acks"/>).</summary>
    protected Akka.TestKit.TestProbe Partition(bool acks = false)
    {
        var probe = CreateTestProbe();
        probe.IgnoreMessages(m => m is WakeMeAt || (!acks && m is DeviceAck));
        return probe;
    }

    protected IActorRef Device(string id, DeviceSettings settings) =>
        Sys.ActorOf(DeviceActor.Props(id, 0, settings, CreateTestProbe().Ref, new CollectorMetrics(), TimeProvider.System, _alarms));

    /// <summary>Message <paramref name="seq"/> of the partition: one event at <paramref name="offset"/>.</summary>
    protected static DeviceEvents Event(string id, IActorRef partition, long seq, long offset, long time, double value) =>
        new(id, 0, partition, "broker", new PartitionEvent(offset, long.MinValue, time, value), []) { Delivery = new Delivery(seq, seq) };

    /// <summary>
    /// A device (snapshots every 300 ms, saves given up on after 300 ms) whose first save the store does
    /// not answer in time: it saves again, and that one is stored (offset 7 covered); then it changes again
    /// (message 2, offset 8), so a newer snapshot is due when the first save's late answer comes.
    /// </summary>
    protected Akka.TestKit.TestProbe FirstSaveGivenUpOnThenChanged()
    {
        var partition = Partition(acks: true);
        var device = Device("d", Settings(1_000, TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(300)));
        device.Tell(Event("d", partition.Ref, seq: 1, offset: 7, time: 1_000, value: 10));
        partition.ExpectMsg<DeviceAck>();
        AssertCovered(partition, 1, 7, TimeSpan.FromSeconds(10));
        device.Tell(Event("d", partition.Ref, seq: 2, offset: 8, time: 2_000, value: 20));
        partition.ExpectMsg<DeviceAck>();
        return partition;
    }

    protected static void AssertCovered(Akka.TestKit.TestProbe partition, long throughSeq, long throughOffset, TimeSpan within)
    {
        var covered = partition.ExpectMsg<Covered>(within);
        Assert.Equal((throughSeq, throughOffset), (covered.ThroughSeq, covered.ThroughOffset));
    }
}
