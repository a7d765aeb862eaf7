namespace MetricsCollector.Partitions;

/// <summary>How a partition's commit stands (<see cref="CommitStall.Check"/>).</summary>
public enum CommitStallState
{
    /// <summary>Moving, or caught up with what was read, or stopped for less than the warning's threshold.</summary>
    None,

    /// <summary>Stopped for at least the threshold with records read past it: warn (again, once per threshold).</summary>
    Stalled,

    /// <summary>Moving again after a warning.</summary>
    Resumed,
}

/// <param name="ForMs">How long the commit stood still.</param>
public readonly record struct CommitStallVerdict(CommitStallState State, long ForMs);

/// <summary>
/// Notices a partition whose commit stands still while records it has read wait above it: a device
/// whose snapshot never comes, a side topic that keeps failing, a store that takes no checkpoint.
/// Nothing else shows it but a lag that only grows, and a restart would replay all of it. Commits
/// trail reading by about a snapshot interval in normal work, so only a standstill of
/// <c>partitions.commit-stall-warning</c> is reported, then again each time it lasts as long again,
/// and once when it ends.
/// </summary>
public sealed class CommitStall(long afterMs)
{
    private long _committed = long.MinValue;
    private long _since;
    private long? _warnedAt;

    /// <param name="now">Wall clock, epoch ms.</param>
    /// <param name="committed">The committed offset (the next one a restart reads).</param>
    /// <param name="read">The offset of the next record to read.</param>
    public CommitStallVerdict Check(long now, long committed, long read)
    {
        if (committed != _committed || read <= committed)
        {
            var verdict = _warnedAt is null ? default : new CommitStallVerdict(CommitStallState.Resumed, now - _since);
            (_committed, _since, _warnedAt) = (committed, now, null);
            return verdict;
        }
        if (now - _since < afterMs || (_warnedAt is { } warned && now - warned < afterMs)) return default;
        _warnedAt = now;
        return new CommitStallVerdict(CommitStallState.Stalled, now - _since);
    }
}
