namespace MetricsCollector.Ingest;

/// <summary>
/// How long a partition that ended asking to be read again waits first. An end that repeats (a device losing
/// state, the actor failing, a log replaced under it) backs off, doubling up to a bound, so that a cause that
/// persists does not spin. A partition whose next offset the broker's retention deleted before it was read waits
/// for nothing: it reads on from the log's start, and every second it waited retention would take more of what it
/// has not read.
/// </summary>
public static class ReadAgainDelay
{
    /// <param name="repeats">How many times in a row the partition ended, 1 for the first.</param>
    /// <param name="outOfRangeAt">The offset the broker no longer had, when that is why it ended.</param>
    /// <param name="logStart">The log's first offset now, when known.</param>
    /// <param name="max">The longest back-off.</param>
    public static TimeSpan For(int repeats, long? outOfRangeAt, long? logStart, TimeSpan max) =>
        OvertakenByRetention(outOfRangeAt, logStart)
            ? TimeSpan.Zero
            : TimeSpan.FromSeconds(Math.Min(max.TotalSeconds, Math.Pow(2, repeats - 1) - 1));

    /// <summary>The offset is gone because the log now starts after it, not because the log was replaced by a shorter one.</summary>
    public static bool OvertakenByRetention(long? outOfRangeAt, long? logStart) =>
        outOfRangeAt is { } at && logStart is { } start && at < start;
}
