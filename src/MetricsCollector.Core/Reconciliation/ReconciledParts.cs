using MetricsCollector.Core.Digests;
using MetricsCollector.Core.Events;
using MetricsCollector.Core.Windows;

namespace MetricsCollector.Core.Reconciliation;

/// <summary>
/// How too-late events join the windows they belong to, after those windows have closed. They live in a
/// part of their own, <see cref="Partition"/>, beside the parts the input partitions wrote: the store merges a
/// window's parts into its row as it does for any window held in several parts (count summed, digests merged,
/// revision the sum of the parts' revisions, final once every part is). So a reconciled window's row goes up in
/// revision, stays final, and what the node wrote is never rewritten.
/// </summary>
public static class ReconciledParts
{
    /// <summary>The part number of reconciled events: no Kafka partition has it.</summary>
    public const int Partition = -1;

    /// <summary>The ends of every window that holds an event at <paramref name="time"/>, earliest first.</summary>
    public static IEnumerable<long> EndsHolding(WindowSpec spec, long time)
    {
        var pane = spec.PaneOf(time);
        for (var end = spec.FirstEndOf(pane); end <= spec.LastEndOf(pane); end += spec.Slide)
        {
            yield return end;
        }
    }

    /// <summary>The (device, window end) keys the events land in, each once, in key order.</summary>
    public static IReadOnlyList<(string DeviceId, long WindowEnd)> WindowsOf(WindowSpec spec, IEnumerable<CpuEvent> events) =>
        events.SelectMany(e => EndsHolding(spec, e.Timestamp).Select(end => (e.DeviceId, end)))
            .Distinct()
            .OrderBy(k => k.DeviceId, StringComparer.Ordinal)
            .ThenBy(k => k.end)
            .ToList();

    /// <summary>
    /// The reconciled parts after <paramref name="events"/>: each window they land in gets its stored
    /// reconciled part (from <paramref name="stored"/>, by key) with the events' values added, one revision
    /// higher, or a new part at revision 1; always final, since only closed windows are reconciled. Events are
    /// added in the order given, so the same events over the same stored parts give the same bytes.
    /// </summary>
    public static IReadOnlyList<WindowPart> Fold(
        WindowSettings windows,
        IReadOnlyList<CpuEvent> events,
        IReadOnlyDictionary<(string DeviceId, long WindowEnd), WindowPart> stored,
        long now)
    {
        ArgumentNullException.ThrowIfNull(windows);
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(stored);
        var digests = new SortedDictionary<(string DeviceId, long WindowEnd), TDigest>(KeyOrder.Instance);
        foreach (var evt in events)
        {
            foreach (var end in EndsHolding(windows.Spec, evt.Timestamp))
            {
                var key = (evt.DeviceId, end);
                if (!digests.TryGetValue(key, out var digest))
                {
                    digest = stored.TryGetValue(key, out var part) ? TDigest.FromBytes(part.Digest) : new TDigest(windows.Compression);
                    digests.Add(key, digest);
                }

                digest.Add(evt.CpuUsage);
            }
        }

        return digests.Select(pair =>
        {
            var ((deviceId, end), digest) = (pair.Key, pair.Value);
            var revision = stored.TryGetValue(pair.Key, out var part) ? part.Row.Revision + 1 : 1;
            var row = WindowResult.Of(deviceId, windows.Spec.StartOf(end), end, digest, revision, final: true, now);
            return new WindowPart(Partition, row, digest.ToBytes());
        }).ToList();
    }

    private sealed class KeyOrder : IComparer<(string DeviceId, long WindowEnd)>
    {
        public static readonly KeyOrder Instance = new();

        public int Compare((string DeviceId, long WindowEnd) x, (string DeviceId, long WindowEnd) y)
        {
            var byDevice = string.CompareOrdinal(x.DeviceId, y.DeviceId);
            return byDevice != 0 ? byDevice : x.WindowEnd.CompareTo(y.WindowEnd);
        }
    }
}
