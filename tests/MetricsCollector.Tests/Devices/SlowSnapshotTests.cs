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
/// A snapshot store that takes its time with a device's first save, as one does while it comes back
/// from an outage: what the device handles meanwhile must still be snapshotted on time, or its
/// partition's commit waits on a quiet device until the device is passivated minutes later.
/// </summary>
public sealed class SlowSnapshotTests : TestKit
{
    private static readonly Config Persistence = ConfigurationFactory.ParseString($$"""
        akka.persistence.journal.plugin = "akka.persistence.journal.inmem"
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.slow"
        akka.persistence.snapshot-store.slow.class = "{{typeof(SlowFirstSaveSnapshotStore).AssemblyQualifiedName}}"
        """);

    public SlowSnapshotTests() : base(Persistence) { }

    /// <summary>Published when a save begins.</summary>
    public sealed record SaveStarted(string PersistenceId);

    /// <summary>Answers a persistence id's first save after a second; the later ones at once.</summary>
    public sealed class SlowFirstSaveSnapshotStore : SnapshotStore
    {
        private readonly ActorSystem _system = Context.System;
        private readonly HashSet<string> _seen = new();
        private readonly Dictionary<string, SelectedSnapshot> _saved = new();

        protected override Task<SelectedSnapshot?> LoadAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken = default) =>
            Task.FromResult(_saved.GetValueOrDefault(persistenceId));

        protected override async Task SaveAsync(SnapshotMetadata metadata, object snapshot, CancellationToken cancellationToken = default)
        {
            _system.EventStream.Publish(new SaveStarted(metadata.PersistenceId));
            if (_seen.Add(metadata.PersistenceId)) await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            _saved[metadata.PersistenceId] = new SelectedSnapshot(metadata, snapshot);
        }

        protected override Task DeleteAsync(SnapshotMetadata metadata, CancellationToken cancellationToken = default) => Task.CompletedTask;

        protected override Task DeleteAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken = default) => Task.CompletedTask;
    }

    [Fact]
    public void Events_handled_while_a_snapshot_is_being_saved_are_snapshotted_within_the_interval_after_it_even_if_nothing_follows()
    {
        // Snapshots by time only: the interval, not a count of events, must bring the second one.
        var settings = new DeviceSettings(new WindowSettings(new WindowSpec(60_000, 10_000), 5_000),
            SnapshotAfterEvents: 1_000, SnapshotInterval: TimeSpan.FromMilliseconds(200),
            SnapshotTimeout: TimeSpan.FromSeconds(30));
        var partition = CreateTestProbe();
        partition.IgnoreMessages(m => m is DeviceAck or WakeMeAt);
        var saves = CreateTestProbe();
        Sys.EventStream.Subscribe(saves.Ref, typeof(SaveStarted));
        var device = Sys.ActorOf(DeviceActor.Props("d", 0, settings, CreateTestProbe().Ref, new CollectorMetrics(), TimeProvider.System));

        device.Tell(new DeviceEvents("d", 0, partition.Ref, "broker", [new PartitionEvent(7, long.MinValue, 1_000, 10)]) { Delivery = new Delivery(1, 1) });
        // The first snapshot is asked for after 200 ms and takes a second; this event arrives while it is saved.
        saves.ExpectMsg<SaveStarted>(TimeSpan.FromSeconds(5));
        device.Tell(new DeviceEvents("d", 0, partition.Ref, "broker", [new PartitionEvent(8, long.MinValue, 2_000, 20)]) { Delivery = new Delivery(2, 2) });

        Assert.Equal(7, partition.ExpectMsg<Covered>(TimeSpan.FromSeconds(5)).ThroughOffset);
        var second = partition.ExpectMsg<Covered>(TimeSpan.FromSeconds(2));
        Assert.Equal((2L, 8L), (second.ThroughSeq, second.ThroughOffset));
    }

    [Fact]
    public void A_wake_up_that_fires_nothing_while_a_snapshot_is_being_saved_is_covered_by_that_snapshot()
    {
        var settings = new DeviceSettings(new WindowSettings(new WindowSpec(60_000, 10_000), 5_000),
            SnapshotAfterEvents: 1, SnapshotInterval: TimeSpan.FromMinutes(1),
            SnapshotTimeout: TimeSpan.FromSeconds(30));
        var partition = CreateTestProbe();
        partition.IgnoreMessages(m => m is DeviceAck or WakeMeAt);
        var saves = CreateTestProbe();
        Sys.EventStream.Subscribe(saves.Ref, typeof(SaveStarted));
        var device = Sys.ActorOf(DeviceActor.Props("w", 0, settings, CreateTestProbe().Ref, new CollectorMetrics(), TimeProvider.System));

        device.Tell(new DeviceEvents("w", 0, partition.Ref, "broker", [new PartitionEvent(7, long.MinValue, 1_000, 10)]) { Delivery = new Delivery(1, 1) });
        saves.ExpectMsg<SaveStarted>(TimeSpan.FromSeconds(5));
        // Below every window's end: it changes nothing, so no snapshot of its own follows, and the device
        // says nothing of it until the snapshot under way is saved.
        device.Tell(new AdvanceWatermark("w", 0, partition.Ref, 5_000) { Delivery = new Delivery(2, 2) });

        var covered = partition.ExpectMsg<Covered>(TimeSpan.FromSeconds(5));
        Assert.Equal((2L, 7L), (covered.ThroughSeq, covered.ThroughOffset));
    }
}
