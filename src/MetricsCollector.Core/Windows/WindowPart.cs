using MetricsCollector.Core.Digests;

namespace MetricsCollector.Core.Windows;

/// <summary>
/// One partition's share of a (device, window) row. A device's records normally arrive on one
/// partition (keyed producers), and then its one part is the row. Unkeyed producers spread a
/// device over several partitions; each partition judges and fires its records by its own
/// watermark, so each holds a part, and the row is the <see cref="Merge"/> of them all. A part
/// therefore carries, beside its row, the window's digest: the mergeable state, which also holds
/// the exact count, min, max and sum. It is kept in its binary form (<see cref="TDigest.ToBytes"/>,
/// exact and versioned): that is what the store keeps, and it is a fraction of the digest's size in
/// memory, where a device holds the last part of each fired window until the window closes.
/// </summary>
public sealed record WindowPart(int Partition, WindowResult Row, byte[] Digest)
{
    /// <summary>
    /// The first row its partition made of the window: the window has just fired, or a late event gave a window
    /// that fired empty its first event. Taken late, it may already be a revision or final (a watermark jump can
    /// fire and close a window at once). What the delay from firing to storing is measured on.
    /// </summary>
    public bool FirstRow { get; init; }

    /// <summary>
    /// The row of a window held in several parts (one per partition, in any order): count summed,
    /// min and max over all, mean = total sum / total count, the percentiles from the merged digest;
    /// revision is the sum of the parts' revisions, so it goes up with every change to any part;
    /// final once every part is final; last updated the latest of theirs.
    /// One part gives its own row unchanged.
    /// </summary>
    public static WindowResult Merge(IReadOnlyList<WindowPart> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Count == 0) throw new ArgumentException("a window has at least one part", nameof(parts));
        var first = parts[0].Row;
        if (parts.Count == 1) return first;

        var digests = new TDigest[parts.Count];
        var revision = 0;
        var final = true;
        var lastUpdated = long.MinValue;
        for (var i = 0; i < parts.Count; i++)
        {
            var row = parts[i].Row;
            if (row.DeviceId != first.DeviceId || row.WindowEnd != first.WindowEnd)
                throw new ArgumentException($"parts of different windows: ({first.DeviceId}, {first.WindowEnd}) and ({row.DeviceId}, {row.WindowEnd})", nameof(parts));
            digests[i] = TDigest.FromBytes(parts[i].Digest);
            revision += row.Revision;
            final &= row.Final;
            lastUpdated = Math.Max(lastUpdated, row.LastUpdated);
        }

        var merged = TDigest.MergeAll(digests, digests[0].Compression);
        return WindowResult.Of(first.DeviceId, first.WindowStart, first.WindowEnd, merged, revision, final, lastUpdated);
    }
}
