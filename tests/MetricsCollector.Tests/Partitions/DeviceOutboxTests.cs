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

    private static IFromPartition Stamp(DeviceOutbox outbox, string device) =>
        outbox.Stamp(outbox.LineOf(device), device, static (d, id) => new FlushDevice(id, 0, ActorRefs.Nobody) { Delivery = d }, 0);
}
