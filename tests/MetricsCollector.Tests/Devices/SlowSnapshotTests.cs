using Akka.Actor;
using Akka.Persistence;
using MetricsCollector.Devices;

namespace MetricsCollector.Tests.Devices;

/// <summary>
/// A snapshot store that takes its time with a device's first save, as one does while it comes back
/// from an outage: what the device handles meanwhile must still be covered on time, or its
/// partition's commit waits on a quiet device until the device is passivated minutes later.
/// </summary>
public sealed class SlowSnapshotTests() : ScriptedSnapshotTestKit(ScriptedSnapshotStore.ConfigFor<SlowFirstSaveSnapshotStore>())
{
    /// <summary>Published when a save begins.</summary>
    public sealed record SaveStarted(string PersistenceId);

    /// <summary>Answers a persistence id's first save after a second.</summary>
    public sealed class SlowFirstSaveSnapshotStore : ScriptedSnapshotStore
    {
        private readonly ActorSystem _system = Context.System;

        protected override Task FirstSaveAsync(CancellationToken ct) => Task.Delay(TimeSpan.FromSeconds(1), ct);

        protected override void SaveBegins(SnapshotMetadata metadata) => _system.EventStream.Publish(new SaveStarted(metadata.PersistenceId));
    }

    /// <summary>A device whose first message (offset 7) is being snapshotted, slowly, when this returns.</summary>
    private (Akka.TestKit.TestProbe Partition, IActorRef Device) SavingFirstSnapshot(DeviceSettings settings, bool acks = false)
    {
        var partition = Partition(acks);
        var saves = CreateTestProbe();
        Sys.EventStream.Subscribe(saves.Ref, typeof(SaveStarted));
        var device = Device("d", settings);
        device.Tell(Event("d", partition.Ref, seq: 1, offset: 7, time: 1_000, value: 10));
        saves.ExpectMsg<SaveStarted>(TimeSpan.FromSeconds(5));
        return (partition, device);
    }

    [Fact]
    public void Events_handled_while_a_snapshot_is_being_saved_are_snapshotted_within_the_interval_after_it_even_if_nothing_follows()
    {
        // Snapshots by time only: the interval, not a count of events, must bring the second one.
        var (partition, device) = SavingFirstSnapshot(Settings(1_000, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(30)));

        device.Tell(Event("d", partition.Ref, seq: 2, offset: 8, time: 2_000, value: 20));

        AssertCovered(partition, 1, 7, TimeSpan.FromSeconds(5));
        AssertCovered(partition, 2, 8, TimeSpan.FromSeconds(2));
    }

    [Fact]
    public void A_wake_up_that_fires_nothing_while_a_snapshot_is_being_saved_is_covered_by_that_snapshot()
    {
        var (partition, device) = SavingFirstSnapshot(Settings(1, TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(30)));

        // Below every window's end: it changes nothing, so no snapshot of its own follows, and the device
        // says nothing of it until the snapshot under way is saved.
        device.Tell(new AdvanceWatermark("d", 0, partition.Ref, 5_000) { Delivery = new Delivery(2, 2) });

        AssertCovered(partition, 2, 7, TimeSpan.FromSeconds(5));
    }

    /// <summary>
    /// Hand-off and passivation stop a device with <see cref="StopDevice"/>, but the partition also sends to a
    /// device directly, so messages can come after it, while the stop's snapshot is saved. One handled then was
    /// acknowledged, and so never sent again, yet was in no snapshot once the device stopped: its next start
    /// joined the stream after it and covered it, and the partition committed past events no device held
    /// (seen as too low counts in the cluster tests, after shards moved to a node that joined).
    /// </summary>
    [Fact]
    public void A_device_that_stops_has_every_message_it_acknowledged_covered()
    {
        var partition = Partition(acks: true);
        var device = Device("d", Settings(1_000, TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(30)));
        device.Tell(Event("d", partition.Ref, seq: 1, offset: 7, time: 1_000, value: 10));
        Assert.Equal(1, partition.ExpectMsg<DeviceAck>(TimeSpan.FromSeconds(5)).Seq);
        Watch(device);

        // The stop's snapshot is the device's first save, which the store takes a second over.
        device.Tell(StopDevice.Instance);
        device.Tell(Event("d", partition.Ref, seq: 2, offset: 8, time: 2_000, value: 20));

        ExpectTerminated(device, TimeSpan.FromSeconds(5));
        var told = partition.ReceiveWhile(TimeSpan.FromMilliseconds(300), m => m);
        Assert.Contains(new Covered("d", 1, 7), told);
        var acknowledged = told.OfType<DeviceAck>().Select(a => a.Seq).DefaultIfEmpty(1).Max();
        var covered = told.OfType<Covered>().Max(c => c.ThroughSeq);
        Assert.True(covered >= acknowledged, $"acknowledged through {acknowledged}, covered through {covered}: {string.Join(", ", told)}");
    }
}
