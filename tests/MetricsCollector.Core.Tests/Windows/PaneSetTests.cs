using MetricsCollector.Core.Digests;
using MetricsCollector.Core.Windows;

namespace MetricsCollector.Core.Tests.Windows;

/// <summary>
/// A pane set keeps idle panes as bare decimal forms in one array; it must answer exactly as one
/// digest per pane would: the same window digests, bit for bit, and the same snapshot bytes.
/// </summary>
public sealed class PaneSetTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Panes_answer_as_one_compacted_digest_per_pane_would(int seed)
    {
        var random = new Random(seed);
        var panes = new PaneSet(100);
        var reference = new SortedDictionary<long, TDigest>();
        long newest = 0;
        for (var step = 0; step < 3_000; step++)
        {
            var roll = random.Next(100);
            if (roll < 80)
            {
                // Mostly the newest pane, some stragglers for older ones, a few values without a
                // decimal form, and now and then a pane of more values than an idle pane keeps.
                var pane = random.Next(10) < 8 ? newest : newest - random.Next(1, 8);
                var value = random.Next(50) == 0 ? random.NextDouble() * 100 : Math.Round(random.NextDouble() * 100, random.Next(4));
                var times = random.Next(200) == 0 ? 250 : 1;
                for (var i = 0; i < times; i++)
                {
                    panes.Add(pane, value);
                    (reference.TryGetValue(pane, out var digest) ? digest : reference[pane] = new TDigest(100)).Add(value);
                }
            }
            else if (roll < 88)
            {
                newest++;
            }
            else if (roll < 95)
            {
                panes.CompactAllButNewest();
                foreach (var digest in reference.Values.SkipLast(1)) digest.Compact();
            }
            else
            {
                var below = newest - random.Next(5, 15);
                panes.DropBelow(below);
                foreach (var pane in reference.Keys.Where(p => p < below).ToList()) reference.Remove(pane);
            }

            if (step % 50 == 0) AssertSame(panes, reference, newest - random.Next(12), newest - random.Next(3));
        }

        AssertSame(panes, reference, long.MinValue, long.MaxValue);
    }

    private static void AssertSame(PaneSet panes, SortedDictionary<long, TDigest> reference, long first, long last)
    {
        Assert.Equal(reference.Keys, panes.Indexes.ToList());
        Assert.Equal(reference.Count, panes.Count);
        var inRange = reference.Where(p => p.Key >= first && p.Key <= last).Select(p => p.Value).ToArray();
        Assert.Equal(inRange.Sum(d => d.Count), panes.CountIn(first, last));
        var merged = panes.Merge(first, last);
        if (inRange.Length == 0)
        {
            Assert.Null(merged);
            return;
        }

        Assert.Equal(TDigest.MergeAll(inRange).ToBytes(), merged!.ToBytes());
        Assert.Equal(reference.Select(p => (p.Key, p.Value.ToBytes())), panes.ToBytes().ToList());
    }
}

internal static class PaneIndexes
{
    public static List<long> ToList(this PaneSet.Enumerator indexes)
    {
        var list = new List<long>();
        foreach (var pane in indexes) list.Add(pane);
        return list;
    }
}
