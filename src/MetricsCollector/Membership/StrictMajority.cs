namespace MetricsCollector.Membership;

/// <summary>
/// Whether this side may down members on its own: those still answering, itself included, must
/// be a strict majority of the members that count. A firewall that rejects connections between
/// two halves of a cluster makes each side look gone to the other; only the larger half may act,
/// and with no strict majority the split-brain resolver decides as before.
/// </summary>
public static class StrictMajority
{
    public static bool Remains<TMember>(IReadOnlyCollection<TMember> counted, Func<TMember, bool> lost) =>
        counted.Count(m => !lost(m)) * 2 > counted.Count;
}
