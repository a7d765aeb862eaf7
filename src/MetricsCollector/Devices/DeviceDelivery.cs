using Akka.Actor;

namespace MetricsCollector.Devices;

/// <summary>
/// Where a message stands in one partition actor's stream of messages to one device: its number
/// (from 1), and the lowest number not yet acknowledged when it was sent. Every number below
/// <see cref="Base"/> has been handled by the device.
/// </summary>
public readonly record struct Delivery(long Seq, long Base);

/// <summary>A partition's message to a device: numbered, acknowledged, and sent again until it is.</summary>
public interface IFromPartition : IDeviceMessage
{
    IActorRef PartitionActor { get; }

    Delivery Delivery { get; }

    IFromPartition With(Delivery delivery);
}

/// <summary>What a device does with a numbered message from a partition.</summary>
public enum DeliveryVerdict
{
    /// <summary>The next in its stream: handle it.</summary>
    Handle,

    /// <summary>Handled before (its acknowledgement was lost or late): acknowledge again, do nothing.</summary>
    AlreadyHandled,

    /// <summary>An earlier message is missing: ignore it and tell the partition (<see cref="DeviceGap"/>), which sends the stream again from the gap.</summary>
    Gap,
}

/// <summary>
/// The device's side of <see cref="Partitions.DeviceOutbox"/>: it handles each partition actor's messages
/// strictly in their order, each once. A stream it does not know (a new partition owner, or this
/// device just started) is joined at a message whose number is its base, where nothing is missing.
/// </summary>
public sealed class DeliveryGate
{
    private readonly Dictionary<int, (IActorRef From, long Next)> _streams = new();

    public DeliveryVerdict Check(IFromPartition message)
    {
        var (seq, lowest) = message.Delivery;
        if (_streams.TryGetValue(message.Partition, out var stream) && stream.From.Equals(message.PartitionActor))
        {
            if (seq < stream.Next) return DeliveryVerdict.AlreadyHandled;
            if (seq > stream.Next) return DeliveryVerdict.Gap;
        }
        else if (seq != lowest)
        {
            return DeliveryVerdict.Gap;
        }
        _streams[message.Partition] = (message.PartitionActor, seq + 1);
        return DeliveryVerdict.Handle;
    }

    /// <summary>The partition actor whose stream of <paramref name="partition"/> this device follows, and the last number it handled from it.</summary>
    public (IActorRef From, long Handled)? Position(int partition) =>
        _streams.TryGetValue(partition, out var stream) ? (stream.From, stream.Next - 1) : null;
}
