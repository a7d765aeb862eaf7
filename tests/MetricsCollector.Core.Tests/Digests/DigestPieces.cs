using MetricsCollector.Core.Digests;

namespace MetricsCollector.Core.Tests.Digests;

/// <summary>Values cut into digests the way panes hold them, and those digests merged as windows and parts merge them.</summary>
internal static class DigestPieces
{
    /// <summary>
    /// <paramref name="values"/> spread at random over <paramref name="pieces"/> digests, which
    /// reach the merge in every state a pane can be in: live, compacted, restored from bytes.
    /// </summary>
    public static List<TDigest> Split(double[] values, int pieces, Random random, double compression)
    {
        var digests = new List<TDigest>();
        for (var i = 0; i < pieces; i++)
        {
            digests.Add(new TDigest(compression));
        }

        foreach (var value in values)
        {
            digests[random.Next(pieces)].Add(value);
        }

        for (var i = 0; i < digests.Count; i++)
        {
            switch (random.Next(3))
            {
                case 0:
                    digests[i].Compact();
                    break;
                case 1:
                    digests[i] = TDigest.FromBytes(digests[i].ToBytes());
                    break;
            }
        }

        return digests;
    }

    /// <summary>Pairwise merges in random order: random merge trees, not just a left fold.</summary>
    public static TDigest PairwiseMerges(List<TDigest> digests, Random random)
    {
        while (digests.Count > 1)
        {
            var a = random.Next(digests.Count);
            var b = random.Next(digests.Count - 1);
            if (b >= a)
            {
                b++;
            }

            digests[a].Merge(digests[b]);
            digests.RemoveAt(b);
        }

        return digests[0];
    }
}
