using Akka.Actor;

namespace MetricsCollector.Devices;

/// <summary>
/// Where a message stands in one partition actor's stream of messages to one device: its number
/// (from 1), and the lowest number not yet acknowledged when it was sent. Every number below
/// <see cref="Base"/> has been handled by the device. <see cref="Slot"/> is where the sender keeps
/// the device's stream (<see cref="Partitions.DeviceOutbox"/>); the device's acknowledgement names it
/// back, so the partition finds the stream without a look-up by device id (-1: not known).
/// </summary>
public readonly record struct Delivery(long Seq, long Base, int Slot = -1);

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
/// The device's side of <see cref="Partitions.DeviceOutbox"/>: it handles its partition actor's messages
/// strictly in their order, each once. A stream it does not know (a new partition owner, or this
/// device just started) is joined at a message whose number is its base, where nothing is missing.
/// A device actor serves one partition, so it follows one stream: a new one replaces it.
/// </summary>
public sealed class DeliveryGate
{
    // Fields rather than a dictionary by partition: a gate lives in every resident device.
    private IActorRef? _from;
    private int _partition;
    private long _next;

    public DeliveryVerdict Check(IFromPartition message)
    {
        var (seq, lowest, _) = message.Delivery;
        if (_from is not null && _partition == message.Partition && _from.Equals(message.PartitionActor))
        {
            if (seq < _next) return DeliveryVerdict.AlreadyHandled;
            if (seq > _next) return DeliveryVerdict.Gap;
        }
        else if (seq != lowest)
        {
            return DeliveryVerdict.Gap;
        }
        (_from, _partition, _next) = (message.PartitionActor, message.Partition, seq + 1);
        return DeliveryVerdict.Handle;
    }

    /// <summary>The partition actor whose stream of <paramref name="partition"/> this device follows, and the last number it handled from it.</summary>
    public (IActorRef From, long Handled)? Position(int partition) =>
        _from is not null && _partition == partition ? (_from, _next - 1) : null;
}
