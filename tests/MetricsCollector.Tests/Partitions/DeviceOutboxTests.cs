using Akka.Actor;
using Akka.TestKit.Xunit2;
using MetricsCollector.Devices;
using MetricsCollector.Partitions;

namespace MetricsCollector.Tests.Partitions;

/// <summary>Where the outbox sends a device's messages: its own address, learned from its acknowledgements, until it stops.</summary>
public sealed class DeviceOutboxTests : TestKit
{
    [Fact]
    public void A_device_address_is_learned_from_its_first_acknowledgement_once_and_forgotten_when_it_stops()
    {
        var outbox = new DeviceOutbox();
        var device = CreateTestProbe().Ref;
        var first = Stamp(outbox, "d");
        Assert.Null(outbox.RouteOf("d"));

        Assert.True(outbox.Ack("d", first.Delivery.Seq, 0, device));
        Assert.Same(device, outbox.RouteOf("d"));
        Assert.Same(device, outbox.LineOf("d").Route);
        Assert.False(outbox.Ack("d", Stamp(outbox, "d").Delivery.Seq, 0, device));
        Assert.Equal(0, outbox.InFlight);

        Assert.Equal("d", outbox.Forget(device));
        Assert.Null(outbox.RouteOf("d"));
        Assert.Null(outbox.Forget(device));
    }

    [Fact]
    public void A_device_started_again_elsewhere_replaces_its_address_and_the_old_one_stopping_changes_nothing()
    {
        var outbox = new DeviceOutbox();
        var (before, after) = (CreateTestProbe().Ref, CreateTestProbe().Ref);
        outbox.Ack("d", Stamp(outbox, "d").Delivery.Seq, 0, before);

        Assert.True(outbox.Ack("d", Stamp(outbox, "d").Delivery.Seq, 0, after));

        Assert.Null(outbox.Forget(before));
        Assert.Same(after, outbox.RouteOf("d"));
    }

    [Fact]
    public void No_address_is_learned_from_nobody_nor_for_a_device_never_sent_to()
    {
        var outbox = new DeviceOutbox();
        var device = CreateTestProbe().Ref;

        Assert.False(outbox.Ack("unknown", 1, 0, device));
        Assert.Null(outbox.RouteOf("unknown"));
        Assert.False(outbox.Ack("d", Stamp(outbox, "d").Delivery.Seq, 0, ActorRefs.Nobody));
        Assert.Null(outbox.RouteOf("d"));
    }

    [Fact]
    public void Idle_devices_are_named_by_their_address_and_only_once_an_address_is_known()
    {
        var outbox = new DeviceOutbox();
        var known = CreateTestProbe().Ref;
        outbox.Ack("known", Stamp(outbox, "known").Delivery.Seq, 0, known);
        outbox.Ack("unheard", Stamp(outbox, "unheard").Delivery.Seq, 0);
        Stamp(outbox, "busy");

        Assert.Equal([known], outbox.Idle(now: 10_000, after: 5_000));
        // Counted as heard from then: not named again at once.
        Assert.Empty(outbox.Idle(now: 12_000, after: 5_000));
    }

    [Fact]
    public void Each_device_s_messages_carry_its_own_slot_and_a_resend_keeps_it()
    {
        var outbox = new DeviceOutbox();
        var (a1, b1, a2) = (Stamp(outbox, "a"), Stamp(outbox, "b"), Stamp(outbox, "a"));

        Assert.NotEqual(a1.Delivery.Slot, b1.Delivery.Slot);
        Assert.Equal(a1.Delivery.Slot, a2.Delivery.Slot);
        Assert.All(outbox.AfterGap("a", now: 0, minInterval: 0), m => Assert.Equal(a1.Delivery.Slot, m.Delivery.Slot));
    }

    [Fact]
    public void An_acknowledgement_reaches_its_device_by_slot_and_by_id_when_the_slot_is_unknown_or_another_device_s()
    {
        var outbox = new DeviceOutbox();
        var a = Stamp(outbox, "a");
        var b = Stamp(outbox, "b");
        var c = Stamp(outbox, "c");

        // The slot of "a" with the id of "b" (an acknowledgement from another sender's numbering): by id.
        outbox.Ack("b", b.Delivery.Seq, 0, slot: a.Delivery.Slot);
        Assert.Equal(1, outbox.UnackedOf("a"));
        Assert.Equal(0, outbox.UnackedOf("b"));

        outbox.Ack("a", a.Delivery.Seq, 0, slot: a.Delivery.Slot);
        Assert.Equal(0, outbox.UnackedOf("a"));

        outbox.Ack("c", c.Delivery.Seq, 0, slot: 1_000);
        Assert.Equal(0, outbox.UnackedOf("c"));
        Assert.Equal(0, outbox.InFlight);
        Assert.False(outbox.Ack("unknown", 1, 0, slot: a.Delivery.Slot));
    }

    private static IFromPartition Stamp(DeviceOutbox outbox, string device) =>
        outbox.Stamp(outbox.LineOf(device), device, static (d, id) => new FlushDevice(id, 0, ActorRefs.Nobody) { Delivery = d }, 0);
}
