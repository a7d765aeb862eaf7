using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using MetricsCollector.Core.Windows;
using MetricsCollector.Devices;
using MetricsCollector.Observability;

namespace MetricsCollector.Tests.Devices;

/// <summary>The device actor with Akka's TestKit and the in-memory snapshot store: rows, wake-ups, snapshots, replays.</summary>
public sealed class DeviceActorTests : TestKit
{
    private static readonly Config Persistence = ConfigurationFactory.ParseString("""
        akka.persistence.journal.plugin = "akka.persistence.journal.inmem"
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.inmem"
        """);

    private static readonly DeviceSettings Settings = new(
        new WindowSettings(new WindowSpec(60_000, 10_000), allowedLatenessMs: 5_000),
        SnapshotAfterEvents: 3,
        SnapshotInterval: TimeSpan.FromMinutes(1),
        SnapshotTimeout: TimeSpan.FromSeconds(30));

    // Fine enough for every interval these tests wait for.
    private readonly DeviceAlarms _alarms = new(TimeProvider.System, TimeSpan.FromMilliseconds(10));

    public DeviceActorTests() : base(Persistence) { }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _alarms.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>A stand-in for the partition actor that sees what devices report, not their per-message acks.</summary>
    private Akka.TestKit.TestProbe PartitionProbe()
    {
        var probe = CreateTestProbe();
        probe.IgnoreMessages<DeviceAck>();
        return probe;
    }

    private IActorRef Device(string id, IActorRef writer) =>
        Sys.ActorOf(DeviceActor.Props(id, 0, Settings, writer, new CollectorMetrics(), TimeProvider.System, _alarms));

    private long _sent;

    /// <summary>The partition numbers its messages; each one here follows an acknowledged one.</summary>
    private IFromPartition Numbered(IFromPartition message)
    {
        var seq = ++_sent;
        return message.With(new Delivery(seq, seq));
    }

    private DeviceEvents Events(string id, IActorRef partition, params (long Offset, long Time, double Value)[] events) =>
        Events(id, partition, 0, events);

    private DeviceEvents Events(string id, IActorRef partition, int partitionId, params (long Offset, long Time, double Value)[] events) =>
        new(id, partitionId, partition, "test-broker", Event(events[0]), events.Skip(1).Select(Event).ToArray());

    private static PartitionEvent Event((long Offset, long Time, double Value) e) => new(e.Offset, long.MinValue, e.Time, e.Value);

    [Fact]
    public void Windows_fire_when_the_partition_advances_the_watermark_and_rows_go_to_the_writer()
    {
        var writer = CreateTestProbe();
        var partition = PartitionProbe();
        var device = Device("d-1", writer.Ref);

        device.Tell(Numbered(Events("d-1", partition.Ref, (0, 1_000, 10), (1, 2_000, 30))));
        Assert.Equal(10_000, partition.ExpectMsg<WakeMeAt>().Watermark);

        device.Tell(Numbered(new AdvanceWatermark("d-1", 0, partition.Ref, 10_000)));
        var rows = writer.ExpectMsg<StoreRows>().Rows;
        var part = Assert.Single(rows);
        var row = part.Row;
        Assert.Equal(0, part.Partition);
        Assert.Equal((10_000L, 2L, 10.0, 30.0, 20.0), (row.WindowEnd, row.Count, row.Min, row.Max, row.Mean));
        Assert.Equal(15_000, partition.ExpectMsg<WakeMeAt>().Watermark);
    }

    [Fact]
    public void An_acknowledgement_names_the_number_and_the_slot_its_message_carried()
    {
        var partition = CreateTestProbe();
        partition.IgnoreMessages<WakeMeAt>();
        var device = Device("d-slot", CreateTestProbe().Ref);

        device.Tell(Events("d-slot", partition.Ref, (0, 1_000, 10)) with { Delivery = new Delivery(1, 1, Slot: 7) });

        var ack = partition.ExpectMsg<DeviceAck>();
        Assert.Equal(("d-slot", 1L, 7), (ack.DeviceId, ack.Seq, ack.Slot));
    }

    [Fact]
    public async Task Asked_for_its_open_windows_a_device_answers_them_and_changes_nothing()
    {
        var writer = CreateTestProbe();
        var partition = PartitionProbe();
        var device = Device("d-live", writer.Ref);

        device.Tell(Numbered(Events("d-live", partition.Ref, (0, 1_000, 10), (1, 12_000, 30))));
        partition.ExpectMsg<WakeMeAt>();
        var open = (await device.Ask<OpenWindows>(GetOpenWindows.Instance, TimeSpan.FromSeconds(3))).Parts;
        // Windows ending at 10 s .. 70 s hold events; none has fired.
        Assert.Equal([10_000L, 20_000, 30_000, 40_000, 50_000, 60_000, 70_000], open.Select(p => p.Row.WindowEnd));
        Assert.Equal([1L, 2, 2, 2, 2, 2, 1], open.Select(p => p.Row.Count));
        Assert.All(open, p => Assert.Equal((0, false), (p.Row.Revision, p.Row.Final)));
        // Asking wrote nothing, acknowledged nothing and asked for no wake-up.
        writer.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        partition.ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        // The windows fire as they would have: the first one's row, and it is no longer open.
        device.Tell(Numbered(new AdvanceWatermark("d-live", 0, partition.Ref, 10_000)));
        Assert.Equal((10_000L, 1L, 1), writer.ExpectMsg<StoreRows>().Rows.Select(p => (p.Row.WindowEnd, p.Row.Count, p.Row.Revision)).Single());
        var after = (await device.Ask<OpenWindows>(GetOpenWindows.Instance, TimeSpan.FromSeconds(3))).Parts;
        Assert.Equal(open.Skip(1).Select(p => (p.Row.WindowEnd, p.Row.Count)), after.Select(p => (p.Row.WindowEnd, p.Row.Count)));
    }

    [Fact]
    public void A_snapshot_is_saved_only_after_its_rows_are_stored_and_then_covers_the_offsets()
    {
        var writer = CreateTestProbe();
        var partition = PartitionProbe();
        var device = Device("d-2", writer.Ref);

        device.Tell(Numbered(Events("d-2", partition.Ref, (10, 1_000, 10))));
        device.Tell(Numbered(new AdvanceWatermark("d-2", 0, partition.Ref, 10_000)));
        var rows = writer.ExpectMsg<StoreRows>();
        // The third change makes a snapshot due, but the rows it implies are not stored yet.
        device.Tell(Numbered(Events("d-2", partition.Ref, (11, 12_000, 20))));
        partition.ReceiveWhile(TimeSpan.FromMilliseconds(500), m => m is Covered ? throw new Xunit.Sdk.XunitException("covered before its rows were stored") : m);

        device.Tell(new RowsStored(rows.Sequence));
        Assert.Equal(11, partition.FishForMessage<Covered>(_ => true, TimeSpan.FromSeconds(3)).ThroughOffset);
    }

    [Fact]
    public void A_snapshot_alarm_that_an_earlier_snapshot_made_void_saves_nothing_when_it_rings()
    {
        // Alarms are never cancelled: the device must tell a due time it still holds from one it gave up.
        var clock = new Partitions.SettableClock(1_000_000);
        using var alarms = new DeviceAlarms(clock, TimeSpan.FromMilliseconds(100));
        var settings = Settings with { SnapshotAfterEvents = 2, SnapshotInterval = TimeSpan.FromSeconds(1) };
        var partition = CreateTestProbe();
        var device = Sys.ActorOf(DeviceActor.Props("d-void", 0, settings, CreateTestProbe().Ref, new CollectorMetrics(), TimeProvider.System, alarms));

        // The first event asks for a snapshot at 1 s; the second makes one due at once.
        device.Tell(Numbered(Events("d-void", partition.Ref, (1, 1_000, 10))));
        device.Tell(Numbered(Events("d-void", partition.Ref, (2, 2_000, 20))));
        Assert.Equal(2, partition.FishForMessage<Covered>(_ => true, TimeSpan.FromSeconds(3)).ThroughOffset);
        // Half a second on, a third event asks for one at 1.5 s.
        clock.Now += 500;
        var third = Numbered(Events("d-void", partition.Ref, (3, 3_000, 30)));
        device.Tell(third);
        partition.FishForMessage<DeviceAck>(ack => ack.Seq == third.Delivery.Seq, TimeSpan.FromSeconds(3));

        clock.Now += 500;
        alarms.Tick();
        partition.ReceiveWhile(TimeSpan.FromMilliseconds(500), m => m is Covered ? throw new Xunit.Sdk.XunitException("snapshot at the void alarm") : m);
        clock.Now += 500;
        alarms.Tick();
        Assert.Equal(3, partition.FishForMessage<Covered>(_ => true, TimeSpan.FromSeconds(3)).ThroughOffset);
    }

    /// <summary>A device that applied offsets 0-2 (values 10, 20, 30), snapshotted them and was stopped, started again.</summary>
    private IActorRef RestartedAfterSnapshotThrough2(string id, IActorRef writer, Akka.TestKit.TestProbe partition)
    {
        var device = Device(id, writer);
        device.Tell(Numbered(Events(id, partition.Ref, (0, 1_000, 10), (1, 2_000, 20), (2, 3_000, 30))));
        Assert.Equal(2, partition.FishForMessage<Covered>(_ => true, TimeSpan.FromSeconds(3)).ThroughOffset);
        Watch(device);
        device.Tell(PoisonPill.Instance);
        ExpectTerminated(device);
        return Device(id, writer);
    }

    [Fact]
    public void After_a_restart_records_the_snapshot_holds_are_skipped()
    {
        var writer = CreateTestProbe();
        var partition = PartitionProbe();
        var restarted = RestartedAfterSnapshotThrough2("d-3", writer.Ref, partition);

        // A replay from offset 1 sends two records the snapshot holds and one it does not.
        restarted.Tell(Numbered(Events("d-3", partition.Ref, (1, 2_000, 20), (2, 3_000, 30), (3, 4_000, 40))));
        restarted.Tell(Numbered(new AdvanceWatermark("d-3", 0, partition.Ref, 1_000_000)));
        var rows = writer.FishForMessage<StoreRows>(m => m.Rows.Count > 0, TimeSpan.FromSeconds(3)).Rows;
        Assert.All(rows, r => Assert.Equal(4, r.Row.Count));
        Assert.All(rows, r => Assert.Equal(25.0, r.Row.Mean));
    }

    [Fact]
    public void A_replay_of_only_what_the_snapshot_holds_is_reported_covered_at_once()
    {
        var writer = CreateTestProbe();
        var partition = PartitionProbe();
        var restarted = RestartedAfterSnapshotThrough2("d-5", writer.Ref, partition);

        // Nothing new, so no snapshot is due (the interval is a minute): the report must come anyway.
        restarted.Tell(Numbered(Events("d-5", partition.Ref, (1, 2_000, 20), (2, 3_000, 30))));
        Assert.Equal(2, partition.FishForMessage<Covered>(_ => true, TimeSpan.FromSeconds(3)).ThroughOffset);
        writer.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void One_device_on_two_partitions_is_two_actors_that_never_share_a_snapshot()
    {
        var writer = CreateTestProbe();
        var partition = PartitionProbe();
        IActorRef Start(int p) => Sys.ActorOf(DeviceActor.Props("d-4", p, Settings, writer.Ref, new CollectorMetrics(), TimeProvider.System, _alarms));

        var onZero = Start(0);
        var onOne = Start(1);
        onZero.Tell(Events("d-4", partition.Ref, (0, 1_000, 10), (1, 2_000, 20), (2, 3_000, 30)));
        Assert.Equal(2, partition.FishForMessage<Covered>(_ => true, TimeSpan.FromSeconds(3)).ThroughOffset);
        onOne.Tell(Events("d-4", partition.Ref, 1, (0, 1_500, 70), (1, 2_500, 90), (2, 3_500, 80)));
        Assert.Equal(2, partition.FishForMessage<Covered>(_ => true, TimeSpan.FromSeconds(3)).ThroughOffset);
        foreach (var actor in new[] { onZero, onOne })
        {
            Watch(actor);
            actor.Tell(PoisonPill.Instance);
            ExpectTerminated(actor);
        }

        // Each restored actor holds its own partition's records only, and reports its parts as that partition's.
        foreach (var (p, mean) in new[] { (0, 20.0), (1, 80.0) })
        {
            Start(p).Tell(new AdvanceWatermark("d-4", p, partition.Ref, 1_000_000));
            var parts = writer.FishForMessage<StoreRows>(m => m.Rows.Count > 0, TimeSpan.FromSeconds(3)).Rows;
            Assert.All(parts, part => Assert.Equal((p, 3L, mean), (part.Partition, part.Row.Count, part.Row.Mean)));
        }
    }

    [Fact]
    public void A_snapshot_reports_the_messages_it_holds_by_number_to_the_partition_actor_that_sent_them()
    {
        var writer = CreateTestProbe();
        var partition = PartitionProbe();
        var device = Device("d-6", writer.Ref);
        var first = Numbered(Events("d-6", partition.Ref, (0, 1_000, 10), (1, 2_000, 20)));
        var second = Numbered(Events("d-6", partition.Ref, (2, 3_000, 30)));
        device.Tell(first);
        device.Tell(second);
        var covered = partition.FishForMessage<Covered>(_ => true, TimeSpan.FromSeconds(3));
        Assert.Equal((second.Delivery.Seq, 2L), (covered.ThroughSeq, covered.ThroughOffset));
    }

    [Fact]
    public void A_wake_up_that_fires_nothing_is_covered_at_once_without_a_snapshot()
    {
        var writer = CreateTestProbe();
        var partition = PartitionProbe();
        var restarted = RestartedAfterSnapshotThrough2("d-7", writer.Ref, partition);
        // Window ends are multiples of 10 s: 5 000 fires nothing.
        var wake = Numbered(new AdvanceWatermark("d-7", 0, partition.Ref, 5_000));
        restarted.Tell(wake);
        Assert.Equal(wake.Delivery.Seq, partition.FishForMessage<Covered>(_ => true, TimeSpan.FromSeconds(3)).ThroughSeq);
        writer.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void A_device_that_fails_refuses_the_partition_actor_it_lost_messages_of_and_takes_the_next_one()
    {
        var writer = CreateTestProbe();
        var lostFrom = CreateTestProbe();
        lostFrom.IgnoreMessages<WakeMeAt>();
        var device = Device("d-8", writer.Ref);
        // Handled and acknowledged, never snapshotted (the snapshot interval is a minute).
        device.Tell(Numbered(Events("d-8", lostFrom.Ref, (0, 1_000, 10))));
        lostFrom.ExpectMsg<DeviceAck>();

        // A message this actor throws on: it restarts from its snapshot, which holds nothing.
        EventFilter.Exception<NullReferenceException>().ExpectOne(() =>
            device.Tell(Numbered(new FlushDevice("d-8", 0, null!))));

        // The partition actor whose acknowledged message is lost must read again: it gets no ack, it is told.
        device.Tell(Numbered(Events("d-8", lostFrom.Ref, (1, 2_000, 20))));
        Assert.Equal("d-8", lostFrom.ExpectMsg<DeviceLostState>().DeviceId);
        lostFrom.ExpectNoMsg(TimeSpan.FromMilliseconds(200));

        // The partition actor that reads again from the last commit (offset 0) is a new one: taken.
        var readAgain = CreateTestProbe();
        readAgain.IgnoreMessages<WakeMeAt>();
        device.Tell(new DeviceEvents("d-8", 0, readAgain.Ref, "test-broker", new PartitionEvent(0, long.MinValue, 1_000, 10), [new PartitionEvent(1, long.MinValue, 2_000, 20)]) { Delivery = new Delivery(1, 1) });
        Assert.Equal(1, readAgain.ExpectMsg<DeviceAck>().Seq);
        device.Tell(new AdvanceWatermark("d-8", 0, readAgain.Ref, 1_000_000) { Delivery = new Delivery(2, 2) });
        var rows = writer.FishForMessage<StoreRows>(m => m.Rows.Count > 0, TimeSpan.FromSeconds(3)).Rows;
        Assert.All(rows, r => Assert.Equal(2, r.Row.Count));
    }
}
