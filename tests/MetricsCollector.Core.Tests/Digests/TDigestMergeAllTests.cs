using MetricsCollector.Testing;
using MetricsCollector.Core.Digests;

namespace MetricsCollector.Core.Tests.Digests;

public sealed class TDigestMergeAllTests
{
    private static readonly double[] SomeQuantiles = [0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1];

    [Fact]
    public void No_digests_or_only_empty_ones_give_an_empty_digest_of_the_requested_compression()
    {
        foreach (var digests in new[] { Array.Empty<TDigest>(), [new TDigest(), new TDigest(50)] })
        {
            var merged = TDigest.MergeAll(digests, 200);

            Assert.Equal(200, merged.Compression);
            Assert.Equal(0, merged.Count);
            Assert.Equal(0, merged.Sum);
            Assert.True(double.IsNaN(merged.Min));
            Assert.True(double.IsNaN(merged.Quantile(0.5)));
            Assert.Equal(0, merged.CentroidCount);
        }
    }

    [Fact]
    public void A_null_digest_is_rejected() =>
        Assert.Throws<ArgumentNullException>(() => TDigest.MergeAll([new TDigest(), null!]));

    [Fact]
    public void One_small_digest_comes_back_exact()
    {
        var random = new Random(3);
        var digest = new TDigest();
        for (var i = 0; i < 45; i++)
        {
            digest.Add(Math.Round(random.NextDouble() * 100, 2));
        }

        var merged = TDigest.MergeAll([digest]);

        Assert.Equal(digest.Count, merged.Count);
        Assert.Equal(digest.Min, merged.Min);
        Assert.Equal(digest.Max, merged.Max);
        Assert.Equal(digest.Sum, merged.Sum);
        Assert.All(SomeQuantiles, q => Assert.Equal(digest.Quantile(q), merged.Quantile(q)));
    }

    [Fact]
    public void Count_min_max_and_sum_do_not_depend_on_the_order_of_the_digests()
    {
        var random = new Random(7);
        var digests = new List<TDigest>();
        for (var d = 0; d < 30; d++)
        {
            var digest = new TDigest();
            var n = random.Next(0, 2_000);
            for (var i = 0; i < n; i++)
            {
                // Values with many decimals make the sum depend on the order of addition.
                digest.Add((random.NextDouble() * 200) - 50, random.Next(3) == 0 ? random.Next(1, 40) : 1);
            }

            if (random.Next(2) == 0)
            {
                digest.Compact();
            }

            digests.Add(digest);
        }

        var reference = TDigest.MergeAll([.. digests]);
        for (var round = 0; round < 20; round++)
        {
            var shuffled = digests.OrderBy(_ => random.Next()).ToArray();
            var merged = TDigest.MergeAll(shuffled);
            Assert.Equal(reference.Count, merged.Count);
            Assert.Equal(reference.Min, merged.Min);
            Assert.Equal(reference.Max, merged.Max);
            Assert.Equal(BitConverter.DoubleToInt64Bits(reference.Sum), BitConverter.DoubleToInt64Bits(merged.Sum));
        }
    }

    [Fact]
    public void Weighted_values_count_with_their_weights()
    {
        var random = new Random(5);
        var expanded = new List<double>();
        var digests = new TDigest[12];
        for (var d = 0; d < digests.Length; d++)
        {
            digests[d] = new TDigest();
            for (var i = 0; i < 500; i++)
            {
                var value = Math.Round(random.NextDouble() * 100, 2);
                var weight = random.Next(1, 20);
                digests[d].Add(value, weight);
                expanded.AddRange(Enumerable.Repeat(value, weight));
            }

            if (d % 2 == 0)
            {
                digests[d].Compact();
            }
        }

        var merged = TDigest.MergeAll(digests);

        var sorted = expanded.Order().ToArray();
        Assert.Equal(sorted.Length, merged.Count);
        Assert.Equal(sorted[0], merged.Min);
        Assert.Equal(sorted[^1], merged.Max);
        Assert.Equal(expanded.Sum(), merged.Sum, 1e-9 * expanded.Sum());
        foreach (var (q, bound) in new[] { (0.5, 0.002), (0.9, 0.001), (0.95, 0.001), (0.99, 0.0005) })
        {
            var error = RankOracle.RankError(sorted, q, merged.Quantile(q));
            Assert.True(error <= bound, $"q={q}: rank error {error}");
        }
    }

    [Fact]
    public void Thirty_panes_are_as_accurate_as_merging_them_one_by_one()
    {
        // The window build: 30 panes of CPU-like readings, compacted as idle panes are, except
        // the newest, which is still live.
        var random = new Random(11);
        var values = new double[60_000];
        var panes = new TDigest[30];
        for (var p = 0; p < panes.Length; p++)
        {
            panes[p] = new TDigest();
            for (var i = p * 2_000; i < (p + 1) * 2_000; i++)
            {
                values[i] = Math.Round(Math.Clamp(55 + (25 * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble())), 0, 100), 2);
                panes[p].Add(values[i]);
            }

            if (p < panes.Length - 1)
            {
                panes[p].Compact();
            }
        }

        var merged = TDigest.MergeAll(panes);
        var oneByOne = new TDigest();
        foreach (var pane in panes)
        {
            oneByOne.Merge(pane);
        }

        var sorted = values.Order().ToArray();
        foreach (var q in new[] { 0.5, 0.9, 0.95, 0.99, 0.999 })
        {
            var bound = (0.4 * RankOracle.CentroidSizeBound(q, 100)) + (2.0 / values.Length);
            var error = RankOracle.RankError(sorted, q, merged.Quantile(q));
            Assert.True(error <= bound, $"q={q}: rank error {error} > {bound} (one by one: {RankOracle.RankError(sorted, q, oneByOne.Quantile(q))})");
        }

        Assert.InRange(merged.CentroidCount, 1, oneByOne.CentroidCount + 5);
    }

    [Fact]
    public void A_run_of_one_repeated_value_is_answered_exactly()
    {
        const double value = 0.1 + 0.2;
        var panes = Enumerable.Range(0, 30).Select(_ => new TDigest()).ToArray();
        for (var i = 0; i < 30_000; i++)
        {
            panes[i % panes.Length].Add(i % 10 == 0 ? 99.5 : value);
        }

        var merged = TDigest.MergeAll(panes);

        Assert.All([0.01, 0.1, 0.5, 0.85], q => Assert.Equal(value, merged.Quantile(q)));
        Assert.Equal(99.5, merged.Quantile(0.95));
    }

    [Fact]
    public void The_result_round_trips_through_bytes_and_keeps_taking_values()
    {
        var random = new Random(9);
        var panes = Enumerable.Range(0, 30).Select(_ => new TDigest()).ToArray();
        foreach (var pane in panes)
        {
            for (var i = 0; i < 60; i++)
            {
                pane.Add(Math.Round(random.NextDouble() * 100, 2));
            }
        }

        var merged = TDigest.MergeAll(panes);
        var bytes = merged.ToBytes();
        var restored = TDigest.FromBytes(bytes);
        Assert.Equal(bytes, restored.ToBytes());

        for (var i = 0; i < 5_000; i++)
        {
            var value = random.NextDouble() * 100;
            merged.Add(value);
            restored.Add(value);
        }

        Assert.Equal(merged.ToBytes(), restored.ToBytes());
        Assert.Equal(6_800, merged.Count);
    }

    [Fact]
    public void Outliers_and_extreme_values_keep_the_means_ordered_and_the_answers_in_range()
    {
        // Values crowded into a sliver of [min, max] put almost every point into one bucket of
        // the sort; values near ±double.MaxValue overflow naive sums and spans.
        var random = new Random(13);
        foreach (var outliers in new[] { new[] { 1e12 }, [-1e300, 1e300], [double.MinValue, double.MaxValue] })
        {
            var panes = Enumerable.Range(0, 20).Select(_ => new TDigest()).ToArray();
            var all = new List<double>();
            for (var i = 0; i < 20_000; i++)
            {
                var value = 3 + Math.Round(random.NextDouble() / 2, 2);
                panes[i % panes.Length].Add(value);
                all.Add(value);
            }

            foreach (var outlier in outliers)
            {
                panes[0].Add(outlier);
                panes[1].Add(outlier, 5);
                all.Add(outlier);
                all.AddRange(Enumerable.Repeat(outlier, 5));
            }

            var merged = TDigest.MergeAll(panes);

            // FromBytes rejects means that are not ascending within [min, max].
            var restored = TDigest.FromBytes(merged.ToBytes());
            var sorted = all.Order().ToArray();
            Assert.Equal(sorted.Length, restored.Count);
            foreach (var q in new[] { 0.1, 0.5, 0.9, 0.99 })
            {
                var estimate = restored.Quantile(q);
                Assert.InRange(estimate, sorted[0], sorted[^1]);
                // 51 distinct values: the bound for heavily repeated values (TDigestPropertyTests),
                // rounded up.
                var error = RankOracle.RankError(sorted, q, estimate);
                Assert.True(error <= 2 * RankOracle.CentroidSizeBound(q, 100), $"q={q}: {estimate}, rank error {error}");
            }
        }
    }

    /// <summary>
    /// A window's digest is merged or read into one scratch digest after another; whatever it
    /// held before (weighted centroids, readings in decimal form, a buffer, nothing) must leave
    /// no trace in the next one.
    /// </summary>
    [Fact]
    public void Merging_or_reading_into_a_used_digest_gives_what_a_fresh_one_gives()
    {
        var random = new Random(21);
        var scratch = new TDigest();
        var blobs = new List<byte[]>();
        for (var round = 0; round < 200; round++)
        {
            var panes = Enumerable.Range(0, random.Next(0, 6)).Select(_ => new TDigest()).ToArray();
            foreach (var pane in panes)
            {
                var n = random.Next(0, 3) switch { 0 => random.Next(1, 20), 1 => random.Next(20, 400), _ => random.Next(400, 3_000) };
                for (var i = 0; i < n; i++)
                {
                    var value = random.Next(3) == 0 ? random.NextDouble() * 100 : Math.Round(random.NextDouble() * 100, 2);
                    if (random.Next(50) == 0)
                    {
                        pane.Add(value, random.Next(2, 40));
                    }
                    else
                    {
                        pane.Add(value);
                    }
                }

                if (random.Next(2) == 0)
                {
                    pane.Compact();
                }
            }

            // Merged into the scratch, then a blob of an earlier round read into it: each
            // meets whatever the scratch held last.
            var fresh = TDigest.MergeAll(panes);
            TDigest.MergeAllInto(panes, scratch);
            AssertSame(fresh, scratch);
            if (fresh.Count > 0)
            {
                blobs.Add(fresh.ToBytes());
            }

            if (blobs.Count > 0)
            {
                var bytes = blobs[random.Next(blobs.Count)];
                var read = TDigest.ReadInto(bytes, scratch);
                Assert.Same(scratch, read);
                AssertSame(TDigest.FromBytes(bytes), read);
                read.Add(random.NextDouble() * 100);
            }
        }
    }

    private static void AssertSame(TDigest expected, TDigest actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        Assert.Equal(expected.Sum, actual.Sum);
        Assert.Equal(expected.ToBytes(), actual.ToBytes());
        foreach (var q in new[] { 0, 0.01, 0.5, 0.9, 0.95, 0.99, 1 })
        {
            Assert.Equal(expected.Quantile(q), actual.Quantile(q));
            Assert.Equal(expected.QuantileBounds(q), actual.QuantileBounds(q));
        }
    }

    /// <summary>
    /// A merge of panes in decimal form knows how many decimals its values have and writes its
    /// extremes with the fewest that hold them, the same bytes as a digest that has to look.
    /// </summary>
    [Fact]
    public void A_merge_of_decimal_panes_writes_the_bytes_a_digest_without_that_knowledge_writes()
    {
        var random = new Random(8);
        for (var round = 0; round < 100; round++)
        {
            var panes = Enumerable.Range(0, random.Next(1, 31)).Select(_ => new TDigest()).ToArray();
            foreach (var pane in panes)
            {
                var decimals = random.Next(0, 4);
                for (var i = random.Next(1, 150); i > 0; i--)
                {
                    pane.Add(Math.Round(random.NextDouble() * 100, random.Next(3) == 0 ? decimals : Math.Min(decimals, 1)));
                }

                pane.Compact();
            }

            var bytes = TDigest.MergeAll(panes).ToBytes();
            Assert.Equal(bytes, TDigest.FromBytes(bytes).ToBytes());
        }
    }
}
