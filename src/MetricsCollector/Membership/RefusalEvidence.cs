namespace MetricsCollector.Membership;

/// <summary>
/// What the probes of silent members have shown. A host that is up answers a connection to a
/// port nobody listens on with a reset, and a node whose process is alive (even paused or
/// overloaded) has its kernel accept connections on its cluster port. So connections refused
/// again and again mean the process is gone, seconds before missing heartbeats say so, and a
/// node that is merely slow never shows it. One refusal could be a port in the middle of being
/// re-bound; a streak of them spread over a moment cannot.
/// </summary>
/// <typeparam name="TMember">How a member is named (an Akka address in the node).</typeparam>
public sealed class RefusalEvidence<TMember>(int refusalsNeeded, TimeSpan spanNeeded) where TMember : notnull
{
    private readonly Dictionary<TMember, Streak> _streaks = new();

    public void Refused(TMember member, DateTime at)
    {
        _streaks[member] = _streaks.TryGetValue(member, out var streak)
            ? streak with { Count = streak.Count + 1, Last = at }
            : new Streak(1, at, at);
    }

    /// <summary>An accepted connection, a timeout or an unreachable host: the streak starts over.</summary>
    public void NotRefused(TMember member) => _streaks.Remove(member);

    public bool IsGone(TMember member) =>
        _streaks.TryGetValue(member, out var streak) && streak.Count >= refusalsNeeded && streak.Last - streak.First >= spanNeeded;

    /// <summary>The streak behind <see cref="IsGone"/>, for the log.</summary>
    public (int Refusals, TimeSpan Over) Describe(TMember member) =>
        _streaks.TryGetValue(member, out var streak) ? (streak.Count, streak.Last - streak.First) : (0, TimeSpan.Zero);

    private readonly record struct Streak(int Count, DateTime First, DateTime Last);
}
