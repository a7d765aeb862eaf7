using Akka.Actor;

namespace MetricsCollector.Devices;

/// <summary>
/// One node's alarms for its device actors: "tell me this message at that time", for a snapshot
/// falling due, a save left unanswered, a save to try again. Akka's timers made six objects for
/// every such request (the timer, its message, the scheduler's registration, a cancellation source
/// and their callbacks), and a device asks for one or two every snapshot interval: at 100,000
/// devices 80,000 of them were alive at any time, each living 10–15 s, long enough to be promoted
/// through both young generations of the GC and die in the old one, which made the node's GC pauses
/// longer. Here a request is a struct in a bucket of a wheel that the node keeps, and the messages
/// are the devices' own singletons, so a request allocates nothing.
/// <para>
/// There is no cancelling: an alarm the device no longer wants still arrives, and the device checks
/// its own state before it acts (a due time it no longer holds, a save no longer under way). Alarms
/// go off at the first tick of the resolution given at or after the time asked for, never before it.
/// </para>
/// </summary>
public sealed class DeviceAlarms : IDisposable
{
    // A power of two, so a tick's bucket is a mask away; alarms further ahead than the wheel's
    // turn wait in their bucket for the turn that reaches them.
    private const int Buckets = 64;

    private readonly TimeProvider _clock;
    private readonly long _resolutionMs;
    private readonly List<Alarm>[] _wheel;
    private readonly Lock _lock = new();
    private readonly ITimer _ticker;
    private readonly List<Alarm> _ringing = new();
    private long _tickedThrough;

    /// <param name="resolution">How often alarms are looked at: the most an alarm goes off late.</param>
    public DeviceAlarms(TimeProvider clock, TimeSpan resolution)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(resolution, TimeSpan.FromMilliseconds(1));
        _clock = clock;
        _resolutionMs = (long)resolution.TotalMilliseconds;
        _wheel = new List<Alarm>[Buckets];
        for (var i = 0; i < Buckets; i++) _wheel[i] = new List<Alarm>();
        _tickedThrough = NowMs() / _resolutionMs;
        _ticker = clock.CreateTimer(_ => Tick(), null, resolution, resolution);
    }

    /// <summary>
    /// The resolution for devices with these settings: fine enough that a snapshot interval or a save's
    /// timeout is kept to within a sixteenth, and no finer than a tick every 5 ms nor coarser than a second.
    /// </summary>
    public static TimeSpan ResolutionFor(DeviceSettings settings)
    {
        var shortest = settings.SnapshotInterval < settings.SnapshotTimeout ? settings.SnapshotInterval : settings.SnapshotTimeout;
        var ms = Math.Clamp(shortest.TotalMilliseconds / 16, 5, 1_000);
        return TimeSpan.FromMilliseconds(ms);
    }

    /// <summary>The clock alarms are set and rung by, in epoch milliseconds.</summary>
    public long NowMs() => _clock.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Tells <paramref name="message"/> to <paramref name="target"/> once <paramref name="delay"/> has passed.</summary>
    public void Set(IActorRef target, object message, TimeSpan delay) => SetAt(target, message, NowMs() + (long)Math.Ceiling(delay.TotalMilliseconds));

    /// <summary>Tells <paramref name="message"/> to <paramref name="target"/> once the clock reads <paramref name="atMs"/>.</summary>
    public void SetAt(IActorRef target, object message, long atMs)
    {
        lock (_lock)
        {
            // The first tick at or after the time; one already looked at rings it at the next.
            var tick = Math.Max(TickOf(atMs), _tickedThrough + 1);
            _wheel[tick & (Buckets - 1)].Add(new Alarm(target, message, atMs));
        }
    }

    /// <summary>Alarms waiting, rung or not yet looked at: for tests and statistics.</summary>
    public int Pending
    {
        get
        {
            lock (_lock) return _wheel.Sum(bucket => bucket.Count);
        }
    }

    /// <summary>Rings every alarm whose time has come; the ticker calls it, a test may too.</summary>
    public void Tick()
    {
        var now = NowMs();
        Alarm[] ringing;
        lock (_lock)
        {
            // Every alarm in the buckets of ticks up to this one is due, but those of a later turn.
            var through = now / _resolutionMs;
            // After a long stall one turn of the wheel visits every bucket.
            var from = Math.Max(_tickedThrough + 1, through - Buckets + 1);
            for (var tick = from; tick <= through; tick++) Collect(_wheel[tick & (Buckets - 1)], now);
            _tickedThrough = Math.Max(_tickedThrough, through);
            if (_ringing.Count == 0) return;
            // Ticks may overlap (a timer does not wait for its last callback), so each tells its own.
            ringing = _ringing.ToArray();
            _ringing.Clear();
        }

        // Told outside the lock: a device's mailbox takes its own lock, and devices set alarms under ours.
        foreach (var alarm in ringing) alarm.Target.Tell(alarm.Message, ActorRefs.NoSender);
    }

    public void Dispose() => _ticker.Dispose();

    private long TickOf(long ms) => Math.DivRem(ms, _resolutionMs, out var rest) + (rest > 0 ? 1 : 0);

    // Keeps the bucket's alarms for a later turn in place and moves those due to _ringing.
    private void Collect(List<Alarm> bucket, long now)
    {
        var kept = 0;
        for (var i = 0; i < bucket.Count; i++)
        {
            var alarm = bucket[i];
            if (alarm.AtMs <= now) _ringing.Add(alarm);
            else bucket[kept++] = alarm;
        }
        bucket.RemoveRange(kept, bucket.Count - kept);
    }

    private readonly record struct Alarm(IActorRef Target, object Message, long AtMs);
}
