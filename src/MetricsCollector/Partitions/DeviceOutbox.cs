using Akka.Actor;
using MetricsCollector.Devices;

namespace MetricsCollector.Partitions;

/// <summary>
/// The partition's side of at-least-once delivery to its devices. A message to a shard can be lost
/// without an error: sent to a node killed but not yet downed, or dropped by a region handing the
/// shard off. Replay skipping by offset cannot notice such a gap (a later record moves the device's
/// applied offset past it), so every message stays here until the device acknowledges its number,
/// and what a device has not acknowledged for a while is sent again, in order.
/// <para>
/// It also knows where each device is. Every message to a device through the shard region costs two
/// more hops (region, shard) on one region actor that every partition of the node shares; a device's
/// own address comes with its acknowledgements, and messages go straight to it from then on, until it
/// stops. A device of a partition always lives on the partition's node (shard = partition), so the
/// address is local. Address and unacknowledged messages share one entry a device, and each message
/// carries the entry's slot (<see cref="Delivery.Slot"/>), so that an acknowledgement, the partition's
/// most frequent message, finds it by index: a look-up by device id was a tenth of the data path's CPU.
/// </para>
/// </summary>
public sealed class DeviceOutbox
{
    private readonly Dictionary<string, Line> _lines = new();
    // Entries are never removed, so a slot names one device for the outbox's whole life.
    private readonly List<Line> _slots = new();
    private readonly Dictionary<IActorRef, Line> _byRoute = new();

    /// <summary>Messages sent and not yet acknowledged: the measure of backpressure.</summary>
    public int InFlight { get; private set; }

    /// <summary>How many messages <paramref name="device"/> has not acknowledged yet.</summary>
    public int UnackedOf(string device) => _lines.TryGetValue(device, out var line) ? line.Count : 0;

    /// <summary>The device's entry, made on first use: to stamp a message and learn its route with one look-up.</summary>
    public Line LineOf(string device)
    {
        if (_lines.TryGetValue(device, out var line)) return line;
        _lines[device] = line = new Line(device, _slots.Count);
        _slots.Add(line);
        return line;
    }

    /// <summary>The device's own address, once an acknowledgement brought it; null while messages must go through the shard region.</summary>
    public IActorRef? RouteOf(string device) => _lines.TryGetValue(device, out var line) ? line.Route : null;

    /// <summary>Numbers the message <paramref name="message"/> builds from <paramref name="state"/> for the device of <paramref name="line"/> (<see cref="LineOf"/>) and keeps it until acknowledged.</summary>
    /// <remarks>State and a static builder rather than a closure: the partition sends a message per device per batch.</remarks>
    public IFromPartition Stamp<TState>(Line line, TState state, Func<Delivery, TState, IFromPartition> message, long now)
    {
        var seq = line.NextSeq++;
        if (line.Count == 0) line.Progress = now;
        var stamped = message(new Delivery(seq, line.Count == 0 ? seq : line.OldestSeq, line.Slot), state);
        line.Add(stamped);
        InFlight++;
        return stamped;
    }

    /// <summary>
    /// Every message up to <paramref name="seq"/> is handled, says the device at <paramref name="from"/>,
    /// naming the slot its messages carried (-1 or a slot of another device: found by its id);
    /// true when that address is new for the device (the caller watches it, to learn when it stops).
    /// </summary>
    public bool Ack(string device, long seq, long now, IActorRef? from = null, int slot = -1)
    {
        if (!TryFind(device, slot, out var line)) return false;
        var removed = 0;
        while (line.Count > 0 && line.OldestSeq <= seq)
        {
            line.RemoveOldest();
            removed++;
        }
        if (removed > 0) line.Progress = now;
        InFlight -= removed;
        return from is not null && Learn(line, from);
    }

    private bool TryFind(string device, int slot, out Line line)
    {
        if ((uint)slot < (uint)_slots.Count)
        {
            line = _slots[slot];
            if (string.Equals(line.Device, device, StringComparison.Ordinal)) return true;
        }
        return _lines.TryGetValue(device, out line!);
    }

    private bool Learn(Line line, IActorRef actor)
    {
        if (ReferenceEquals(line.Route, actor) || actor.IsNobody() || actor.Equals(line.Route)) return false;
        if (line.Route is not null) _byRoute.Remove(line.Route);
        line.Route = actor;
        _byRoute[actor] = line;
        return true;
    }

    /// <summary>Forgets the address of a device that stopped; returns which device it was, or null for an address not known.</summary>
    public string? Forget(IActorRef actor)
    {
        if (!_byRoute.Remove(actor, out var line)) return null;
        if (actor.Equals(line.Route)) line.Route = null;
        return line.Device;
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
            if (line.Count > 0 && now - line.Progress >= after) Renumber(line, now, again);
        return again;
    }

    /// <summary>
    /// The addresses of devices with nothing unacknowledged whose last message or acknowledgement is at
    /// least <paramref name="after"/> old: idle, to be passivated. Each counts as heard from now, so that
    /// one still stopping is not asked again at once. A device whose address is not known yet is not
    /// asked: it has not acknowledged anything, so it has not started or is stopping.
    /// </summary>
    public List<IActorRef> Idle(long now, long after)
    {
        var idle = new List<IActorRef>();
        foreach (var line in _lines.Values)
        {
            if (line.Count > 0 || now - line.Progress < after) continue;
            line.Progress = now;
            if (line.Route is { } route) idle.Add(route);
        }
        return idle;
    }

    /// <summary>
    /// What a device that saw a gap needs again, renumbered from the lowest unacknowledged; nothing
    /// if it was sent again less than <paramref name="minInterval"/> ago (each message after the
    /// gap reports it too).
    /// </summary>
    public List<IFromPartition> AfterGap(string device, long now, long minInterval)
    {
        var again = new List<IFromPartition>();
        if (_lines.TryGetValue(device, out var line) && line.Count > 0 && now - line.Resent >= minInterval) Renumber(line, now, again);
        return again;
    }

    private static void Renumber(Line line, long now, List<IFromPartition> again)
    {
        line.Progress = now;
        line.Resent = now;
        var lowest = line.OldestSeq;
        foreach (var message in line.Unacked()) again.Add(message.With(message.Delivery with { Base = lowest }));
    }

    /// <summary>What the partition knows of one device: its address and its messages not yet acknowledged.</summary>
    public sealed class Line(string device, int slot)
    {
        public string Device { get; } = device;

        /// <summary>Where the outbox keeps this entry: its messages carry it, their acknowledgements name it back.</summary>
        public int Slot { get; } = slot;

        public IActorRef? Route { get; internal set; }

        internal long NextSeq = 1;
        internal long Progress;
        internal long Resent = long.MinValue / 2;
        // The oldest unacknowledged message, and a queue only for the rest: most devices have one
        // message or none in flight, and a queue per device (with its array, ~130 bytes) would either
        // stay in memory for every idle device or be allocated again for every message.
        private IFromPartition? _oldest;
        private Queue<IFromPartition>? _rest;

        // The oldest message's number, kept beside it: an acknowledgement compares with it, and reading it from
        // the message itself, sent a batch ago and out of the cache since, was a second cache miss per acknowledgement.
        private long _oldestSeq;

        internal int Count => (_oldest is null ? 0 : 1) + (_rest?.Count ?? 0);

        internal long OldestSeq => _oldest is null ? throw new InvalidOperationException("nothing unacknowledged") : _oldestSeq;

        internal void Add(IFromPartition message)
        {
            if (_oldest is null) (_oldest, _oldestSeq) = (message, message.Delivery.Seq);
            else (_rest ??= new Queue<IFromPartition>()).Enqueue(message);
        }

        internal void RemoveOldest()
        {
            _oldest = _rest is { Count: > 0 } ? _rest.Dequeue() : null;
            if (_oldest is not null) _oldestSeq = _oldest.Delivery.Seq;
        }

        internal IEnumerable<IFromPartition> Unacked()
        {
            if (_oldest is null) yield break;
            yield return _oldest;
            if (_rest is not null)
                foreach (var message in _rest) yield return message;
        }
    }
}
