namespace MetricsCollector.Core.Windows;

/// <summary>
/// Which of two rows of one window stands: the higher revision, or at the same revision the final one.
/// Every write is then idempotent and order-insensitive: a replay, a duplicate or a row that arrives
/// after its successor changes nothing. The stores' SQL upsert is this rule's mirror (pinned to it by
/// the result-store tests); everything else calls it.
/// </summary>
public static class NewerRevisionWins
{
    public static bool Supersedes(WindowResult candidate, WindowResult held)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        ArgumentNullException.ThrowIfNull(held);
        return candidate.Revision > held.Revision || (candidate.Revision == held.Revision && candidate.Final && !held.Final);
    }
}
