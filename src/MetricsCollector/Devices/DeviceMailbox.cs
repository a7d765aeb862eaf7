using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Dispatch.MessageQueues;

namespace MetricsCollector.Devices;

/// <summary>
/// The device actors' mailbox. Akka's default for persistent actors (a concurrent queue behind a
/// prepend stack) starts every queue with a 32-slot segment, about 1.2 KB an actor, though a device
/// rarely holds more than a few messages: at 100,000 resident devices that was a tenth of the
/// node's heap. This one holds nothing until the first message, starts at four slots, and drops a
/// ring a burst grew beyond sixteen once it is empty again.
/// </summary>
public sealed class DeviceMailbox(Settings settings, Config config) : MailboxType(settings, config), IProducesMessageQueue<DeviceMessageQueue>
{
    /// <summary>Where akka.conf configures it; the sharded devices' props name it.</summary>
    public const string ConfigPath = "device-mailbox";

    public override IMessageQueue Create(IActorRef owner, ActorSystem system) => new DeviceMessageQueue();
}

/// <summary>
/// An unbounded deque of envelopes under one lock: many senders enqueue, the actor's one thread at a
/// time dequeues, and the actor's stash puts messages back in front (<see cref="EnqueueFirst"/>).
/// </summary>
public sealed class DeviceMessageQueue : IMessageQueue, IUnboundedDequeBasedMessageQueueSemantics
{
    private const int FirstCapacity = 4;
    // A burst (a replay, a stash) may grow the ring; once drained, a ring larger than this is let go.
    private const int KeptCapacity = 16;

    private readonly Lock _lock = new();
    private Envelope[]? _ring;
    private int _head;
    private int _count;

    public bool HasMessages => Count > 0;

    public int Count
    {
        get
        {
            lock (_lock) return _count;
        }
    }

    public void Enqueue(IActorRef receiver, Envelope envelope)
    {
        lock (_lock)
        {
            var ring = Room();
            ring[(_head + _count) % ring.Length] = envelope;
            _count++;
        }
    }

    public void EnqueueFirst(Envelope envelope)
    {
        lock (_lock)
        {
            var ring = Room();
            _head = (_head + ring.Length - 1) % ring.Length;
            ring[_head] = envelope;
            _count++;
        }
    }

    public bool TryDequeue(out Envelope envelope)
    {
        lock (_lock)
        {
            if (_count == 0)
            {
                envelope = default;
                return false;
            }
            var ring = _ring!;
            envelope = ring[_head];
            ring[_head] = default;
            _head = (_head + 1) % ring.Length;
            if (--_count == 0)
            {
                _head = 0;
                if (ring.Length > KeptCapacity) _ring = null;
            }
            return true;
        }
    }

    public void CleanUp(IActorRef owner, IMessageQueue deadletters)
    {
        while (TryDequeue(out var envelope)) deadletters.Enqueue(owner, envelope);
    }

    /// <summary>The ring, with room for one more envelope (called under the lock).</summary>
    private Envelope[] Room()
    {
        if (_ring is null) return _ring = new Envelope[FirstCapacity];
        if (_count < _ring.Length) return _ring;
        var grown = new Envelope[_ring.Length * 2];
        for (var i = 0; i < _count; i++) grown[i] = _ring[(_head + i) % _ring.Length];
        _head = 0;
        return _ring = grown;
    }
}
