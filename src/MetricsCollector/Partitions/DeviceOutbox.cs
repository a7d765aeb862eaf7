using MetricsCollector.Devices;

namespace MetricsCollector.Partitions;

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
    public int UnackedOf(string device) => _lines.TryGetValue(device, out var line) ? line.Count : 0;

    /// <summary>Numbers the message <paramref name="message"/> builds from <paramref name="state"/> and keeps it until acknowledged.</summary>
    /// <remarks>State and a static builder rather than a closure: the partition sends a message per device per batch.</remarks>
    public IFromPartition Stamp<TState>(string device, TState state, Func<Delivery, TState, IFromPartition> message, long now)
    {
        if (!_lines.TryGetValue(device, out var line)) _lines[device] = line = new Line();
        var seq = line.NextSeq++;
        if (line.Count == 0) line.Progress = now;
        var stamped = message(new Delivery(seq, line.Count == 0 ? seq : line.Oldest.Delivery.Seq), state);
        line.Add(stamped);
        InFlight++;
        return stamped;
    }

    /// <summary>Every message up to <paramref name="seq"/> is handled; returns how many left the outbox.</summary>
    public int Ack(string device, long seq, long now)
    {
        if (!_lines.TryGetValue(device, out var line)) return 0;
        var removed = 0;
        while (line.Count > 0 && line.Oldest.Delivery.Seq <= seq)
        {
            line.RemoveOldest();
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
            if (line.Count > 0 && now - line.Progress >= after) Renumber(line, now, again);
        return again;
    }

    /// <summary>
    /// Devices with nothing unacknowledged whose last message or acknowledgement is at least
    /// <paramref name="after"/> old: idle, to be passivated. Each counts as heard from now, so that one
    /// still stopping is not asked again at once.
    /// </summary>
    public List<string> Idle(long now, long after)
    {
        var idle = new List<string>();
        foreach (var (device, line) in _lines)
        {
            if (line.Count > 0 || now - line.Progress < after) continue;
            line.Progress = now;
            idle.Add(device);
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
        var lowest = line.Oldest.Delivery.Seq;
        foreach (var message in line.Unacked()) again.Add(message.With(message.Delivery with { Base = lowest }));
    }

    private sealed class Line
    {
        public long NextSeq = 1;
        public long Progress;
        public long Resent = long.MinValue / 2;
        // The oldest unacknowledged message, and a queue only for the rest: most devices have one
        // message or none in flight, and a queue per device (with its array, ~130 bytes) would either
        // stay in memory for every idle device or be allocated again for every message.
        private IFromPartition? _oldest;
        private Queue<IFromPartition>? _rest;

        public int Count => (_oldest is null ? 0 : 1) + (_rest?.Count ?? 0);

        public IFromPartition Oldest => _oldest ?? throw new InvalidOperationException("nothing unacknowledged");

        public void Add(IFromPartition message)
        {
            if (_oldest is null) _oldest = message;
            else (_rest ??= new Queue<IFromPartition>()).Enqueue(message);
        }

        public void RemoveOldest() => _oldest = _rest is { Count: > 0 } ? _rest.Dequeue() : null;

        public IEnumerable<IFromPartition> Unacked()
        {
            if (_oldest is null) yield break;
            yield return _oldest;
            if (_rest is not null)
                foreach (var message in _rest) yield return message;
        }
    }
}
