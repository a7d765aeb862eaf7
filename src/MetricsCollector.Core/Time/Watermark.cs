namespace MetricsCollector.Core.Time;

/// <summary>
/// The event-time watermark of one Kafka partition: the highest event time seen minus the
/// bound on out-of-orderness. Records are judged against the watermark as it stood before
/// them (<see cref="Observe"/> returns that value), so the outcome depends only on the order of
/// records in the partition, never on batching or timing.
/// The one timing-dependent rule is idleness: a partition that has received nothing for the
/// idle timeout moves up to wall clock minus the bound, so the last windows of a quiet
/// partition (or of a finished replay) still fire. The clock is injected for that reason alone.
/// </summary>
public sealed class Watermark
{
    /// <summary>The watermark before any record: every window is still open.</summary>
    public const long Start = long.MinValue;

    private readonly TimeProvider _clock;
    private long _lastActivity;

    public Watermark(long maxOutOfOrdernessMs, long idleTimeoutMs, TimeProvider clock, long current = Start)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxOutOfOrdernessMs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(idleTimeoutMs);
        Bound = maxOutOfOrdernessMs;
        IdleTimeout = idleTimeoutMs;
        _clock = clock;
        Current = current;
        // An empty partition holds nothing back: its idle period starts when it is first seen.
        _lastActivity = clock.GetUtcNow().ToUnixTimeMilliseconds();
    }

    public long Bound { get; }
    public long IdleTimeout { get; }

    /// <summary>The watermark W: windows with end ≤ W have fired.</summary>
    public long Current { get; private set; }

    /// <summary>
    /// Accounts for one record of the partition and returns the watermark it must be judged by:
    /// the value after every earlier record and before this one.
    /// </summary>
    public long Observe(long eventTime)
    {
        var before = Current;
        var candidate = eventTime - Bound;
        if (candidate > Current) Current = candidate;
        _lastActivity = _clock.GetUtcNow().ToUnixTimeMilliseconds();
        return before;
    }

    /// <summary>
    /// The idle rule: when nothing arrived for the idle timeout, the watermark may move up to wall
    /// clock minus the bound (never down). Returns that target, or null when the rule does not apply
    /// now. It does not move the watermark: a partition makes the jump durable first
    /// (<see cref="JumpTo"/> then), because the records after it are judged by it and a replay must
    /// judge them the same way.
    /// </summary>
    public long? IdleTarget()
    {
        var now = _clock.GetUtcNow().ToUnixTimeMilliseconds();
        if (now - _lastActivity < IdleTimeout) return null;
        var candidate = now - Bound;
        return candidate > Current ? candidate : null;
    }

    /// <summary>
    /// Moves the watermark up to <paramref name="watermark"/> without a record: an idle jump, now or
    /// replayed from a checkpoint at the position where it first happened. Never moves it down, and
    /// is not activity: the idle period goes on.
    /// </summary>
    public void JumpTo(long watermark)
    {
        if (watermark > Current) Current = watermark;
    }

    /// <summary>The wall-clock time at which <see cref="IdleTarget"/> can next have an effect.</summary>
    public DateTimeOffset IdleDeadline => DateTimeOffset.FromUnixTimeMilliseconds(_lastActivity + IdleTimeout);
}
