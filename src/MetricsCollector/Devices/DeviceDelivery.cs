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

/// <summary>
/// The partition's side of at-least-once delivery to its devices. A message to a shard can be lost
/// without an error: sent to a node killed but not yet downed, or dropped by a region handing the
/// shard off. Replay skipping by offset cannot notice such a gap (a later record moves the device's
/// applied offset past it), so every message stays here until the device acknowledges its number,
/// and what a device has not acknowledged for a while is sent again, in order.
/// </summary>
public sealed class DeviceOutbox
{
    private readonly Dictionary<string, Line> _lines = new();

    /// <summary>Messages sent and not yet acknowledged: the measure of backpressure.</summary>
    public int InFlight { get; private set; }

    /// <summary>How many messages <paramref name="device"/> has not acknowledged yet.</summary>
    public int UnackedOf(string device) => _lines.TryGetValue(device, out var line) ? line.Unacked.Count : 0;

    public IFromPartition Stamp(string device, Func<Delivery, IFromPartition> message, long now)
    {
        if (!_lines.TryGetValue(device, out var line)) _lines[device] = line = new Line();
        var seq = line.NextSeq++;
        if (line.Unacked.Count == 0) line.Progress = now;
        var stamped = message(new Delivery(seq, line.Unacked.Count == 0 ? seq : line.Unacked.Peek().Delivery.Seq));
        line.Unacked.Enqueue(stamped);
        InFlight++;
        return stamped;
    }

    /// <summary>Every message up to <paramref name="seq"/> is handled; returns how many left the outbox.</summary>
    public int Ack(string device, long seq, long now)
    {
        if (!_lines.TryGetValue(device, out var line)) return 0;
        var removed = 0;
        while (line.Unacked.Count > 0 && line.Unacked.Peek().Delivery.Seq <= seq)
        {
            line.Unacked.Dequeue();
            removed++;
        }
        if (removed > 0) line.Progress = now;
        InFlight -= removed;
        return removed;
    }

    /// <summary>
    /// The unacknowledged messages of devices that acknowledged nothing for <paramref name="after"/>,
    /// renumbered from the lowest unacknowledged, to be sent again in this order. A safety net for
    /// a lost last message, which no later one reveals as a gap: a device that is merely slow (a
    /// backlog, a snapshot recovery) also acknowledges nothing for a while, so it must be long.
    /// </summary>
    public List<IFromPartition> Overdue(long now, long after)
    {
        var again = new List<IFromPartition>();
        foreach (var line in _lines.Values)
            if (line.Unacked.Count > 0 && now - line.Progress >= after) Renumber(line, now, again);
        return again;
    }

    /// <summary>
    /// What a device that saw a gap needs again, renumbered from the lowest unacknowledged; nothing
    /// if it was sent again less than <paramref name="minInterval"/> ago (each message after the
    /// gap reports it too).
    /// </summary>
    public List<IFromPartition> AfterGap(string device, long now, long minInterval)
    {
        var again = new List<IFromPartition>();
        if (_lines.TryGetValue(device, out var line) && line.Unacked.Count > 0 && now - line.Resent >= minInterval) Renumber(line, now, again);
        return again;
    }

    private static void Renumber(Line line, long now, List<IFromPartition> again)
    {
        line.Progress = now;
        line.Resent = now;
        var lowest = line.Unacked.Peek().Delivery.Seq;
        foreach (var message in line.Unacked) again.Add(message.With(message.Delivery with { Base = lowest }));
    }

    private sealed class Line
    {
        public long NextSeq = 1;
        public long Progress;
        public long Resent = long.MinValue / 2;
        public readonly Queue<IFromPartition> Unacked = new();
    }
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
/// The device's side of <see cref="DeviceOutbox"/>: it handles each partition actor's messages
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

/// <summary>
/// Where a partition's devices are. Every message to a device through the shard region costs two more hops
/// (region, shard) on one region actor that every partition of the node shares; a device's own address
/// comes with its first acknowledgement, and messages go straight to it from then on, until it stops. A
/// device of a partition always lives on the partition's node (shard = partition), so the address is local.
/// </summary>
public sealed class DeviceRoutes
{
    private readonly Dictionary<string, IActorRef> _byDevice = new();
    private readonly Dictionary<IActorRef, string> _byActor = new();

    public IActorRef? Of(string device) => _byDevice.GetValueOrDefault(device);

    /// <summary>Remembers the device's address; true when it is new (and should be watched).</summary>
    public bool Learn(string device, IActorRef actor)
    {
        if (actor.IsNobody() || _byDevice.TryGetValue(device, out var known) && known.Equals(actor)) return false;
        if (known is not null) _byActor.Remove(known);
        _byDevice[device] = actor;
        _byActor[actor] = device;
        return true;
    }

    /// <summary>Forgets a device that stopped; returns which it was, or null for an address not known.</summary>
    public string? Forget(IActorRef actor)
    {
        if (!_byActor.Remove(actor, out var device)) return null;
        if (_byDevice.TryGetValue(device, out var current) && current.Equals(actor)) _byDevice.Remove(device);
        return device;
    }
}
