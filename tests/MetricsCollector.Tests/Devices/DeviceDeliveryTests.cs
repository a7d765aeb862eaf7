using Akka.Actor;
using Akka.TestKit.Xunit2;
using MetricsCollector.Devices;
using MetricsCollector.Partitions;

namespace MetricsCollector.Tests.Devices;

/// <summary>
/// The outbox and gate between a partition and its devices over a network that drops, repeats and
/// delays messages both ways, as sharding does around a crash or a hand-off: every message is
/// handled exactly once, in the order it was sent.
/// </summary>
public sealed class DeviceDeliveryTests : TestKit
{
    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(0.2, 0.1)]
    [InlineData(0.5, 0.3)]
    public void Every_message_is_handled_once_and_in_order_whatever_the_network_loses_or_repeats(double drop, double repeat)
    {
        for (var seed = 0; seed < 200; seed++)
        {
            var random = new Random(seed);
            var partition = CreateTestProbe().Ref;
            var outbox = new DeviceOutbox();
            var gate = new DeliveryGate();
            var handled = new List<long>();
            var inFlight = new List<IFromPartition>();
            var acks = new List<long>();
            long now = 0;
            var sent = 0;
            const int total = 60;

            while (sent < total || outbox.InFlight > 0)
            {
                now += 100;
                if (sent < total && random.NextDouble() < 0.5)
                {
                    var watermark = ++sent;
                    inFlight.Add(outbox.Stamp(outbox.LineOf("d"), watermark, (d, w) => new AdvanceWatermark("d", 0, partition, w) { Delivery = d }, now));
                }
                inFlight.AddRange(outbox.Overdue(now, after: 30_000));

                // The network: each message may be lost or arrive twice; order within one send is kept.
                var gaps = 0;
                foreach (var message in Transmit(inFlight, random, drop, repeat))
                {
                    switch (gate.Check(message))
                    {
                        case DeliveryVerdict.Handle:
                            handled.Add(((AdvanceWatermark)message).Watermark);
                            acks.Add(message.Delivery.Seq);
                            break;
                        case DeliveryVerdict.AlreadyHandled:
                            acks.Add(message.Delivery.Seq);
                            break;
                        case DeliveryVerdict.Gap:
                            gaps++;
                            break;
                    }
                }
                inFlight.Clear();
                // The device reports each gap (DeviceGap), and such reports may be lost too.
                if (Transmit(Enumerable.Repeat(0, gaps), random, drop, 0).Any()) inFlight.AddRange(outbox.AfterGap("d", now, minInterval: 1_000));
                foreach (var ack in Transmit(acks, random, drop, repeat)) outbox.Ack("d", ack, now);
                acks.Clear();
                Assert.True(now < 10_000_000, $"seed {seed}: delivery never finished");
            }

            Assert.Equal(Enumerable.Range(1, total).Select(i => (long)i), handled);
        }
    }

    [Fact]
    public void A_device_that_restarts_joins_the_stream_where_nothing_before_is_unacknowledged()
    {
        var partition = CreateTestProbe().Ref;
        var outbox = new DeviceOutbox();
        var first = outbox.Stamp(outbox.LineOf("d"), partition, static (d, owner) => new FlushDevice("d", 0, owner) { Delivery = d }, 0);
        Assert.Equal(DeliveryVerdict.Handle, new DeliveryGate().Check(first));
        outbox.Ack("d", first.Delivery.Seq, 0);

        var second = outbox.Stamp(outbox.LineOf("d"), partition, static (d, owner) => new FlushDevice("d", 0, owner) { Delivery = d }, 0);
        var third = outbox.Stamp(outbox.LineOf("d"), partition, static (d, owner) => new FlushDevice("d", 0, owner) { Delivery = d }, 0);
        var restarted = new DeliveryGate();
        // The second was lost: the restarted device cannot take the third, which says the second is unacknowledged.
        Assert.Equal(DeliveryVerdict.Gap, restarted.Check(third));
        Assert.Equal(DeliveryVerdict.Handle, restarted.Check(second));
        Assert.Equal(DeliveryVerdict.Handle, restarted.Check(third));
    }

    [Fact]
    public void A_new_owner_of_the_partition_starts_a_stream_of_its_own()
    {
        var oldOwner = CreateTestProbe().Ref;
        var newOwner = CreateTestProbe().Ref;
        var gate = new DeliveryGate();
        var before = new DeviceOutbox();
        for (var i = 0; i < 3; i++)
            Assert.Equal(DeliveryVerdict.Handle, gate.Check(before.Stamp(before.LineOf("d"), oldOwner, static (d, owner) => new FlushDevice("d", 0, owner) { Delivery = d }, 0)));

        var after = new DeviceOutbox();
        var lostFirst = after.Stamp(after.LineOf("d"), newOwner, static (d, owner) => new FlushDevice("d", 0, owner) { Delivery = d }, 0);
        var second = after.Stamp(after.LineOf("d"), newOwner, static (d, owner) => new FlushDevice("d", 0, owner) { Delivery = d }, 0);
        Assert.Equal(DeliveryVerdict.Gap, gate.Check(second));
        Assert.Equal(DeliveryVerdict.Handle, gate.Check(lostFirst));
    }

    private static IEnumerable<T> Transmit<T>(IEnumerable<T> messages, Random random, double drop, double repeat)
    {
        foreach (var message in messages.ToList())
        {
            if (random.NextDouble() < drop) continue;
            yield return message;
            if (random.NextDouble() < repeat) yield return message;
        }
    }
}
