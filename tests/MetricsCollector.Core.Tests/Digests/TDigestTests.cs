using MetricsCollector.Testing;
using MetricsCollector.Core.Digests;

namespace MetricsCollector.Core.Tests.Digests;

public sealed class TDigestTests
{
    private static readonly double[] SomeQuantiles = [0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1];

    [Fact]
    public void An_empty_digest_answers_NaN_and_zero()
    {
        var digest = new TDigest();

        Assert.Equal(0, digest.Count);
        Assert.Equal(0, digest.Sum);
        Assert.True(double.IsNaN(digest.Min));
        Assert.True(double.IsNaN(digest.Max));
        Assert.True(double.IsNaN(digest.Mean));
        Assert.Equal(0, digest.CentroidCount);
        Assert.All(SomeQuantiles, q => Assert.True(double.IsNaN(digest.Quantile(q))));
        Assert.True(double.IsNaN(digest.Cdf(50)));
        digest.Compact();
        Assert.Equal(0, digest.Count);
    }

    [Fact]
    public void One_value_is_every_quantile()
    {
        var digest = new TDigest();
        digest.Add(42.17);

        Assert.Equal(1, digest.Count);
        Assert.Equal(42.17, digest.Min);
        Assert.Equal(42.17, digest.Max);
        Assert.Equal(42.17, digest.Sum);
        Assert.Equal(42.17, digest.Mean);
        Assert.Equal(1, digest.CentroidCount);
        Assert.All(SomeQuantiles, q => Assert.Equal(42.17, digest.Quantile(q)));
        Assert.Equal(0, digest.Cdf(42.16));
        Assert.Equal(0.5, digest.Cdf(42.17));
        Assert.Equal(1, digest.Cdf(42.18));
    }

    [Fact]
    public void When_all_values_are_equal_every_quantile_is_exactly_that_value()
    {
        // 0.1 + 0.2 is not representable as a short decimal, so any arithmetic drift would show.
        const double value = 0.1 + 0.2;
        var whole = new TDigest();
        var pieces = Enumerable.Range(0, 7).Select(_ => new TDigest()).ToArray();
        for (var i = 0; i < 50_000; i++)
        {
            whole.Add(value);
            pieces[i % pieces.Length].Add(value);
        }

        var merged = new TDigest();
        foreach (var piece in pieces)
        {
            merged.Merge(piece);
        }

        foreach (var digest in new[] { whole, merged, TDigest.FromBytes(merged.ToBytes()) })
        {
            Assert.Equal(50_000, digest.Count);
            Assert.All(SomeQuantiles, q => Assert.Equal(value, digest.Quantile(q)));
            Assert.Equal(0.5, digest.Cdf(value));
            Assert.Equal(0, digest.Cdf(0.29));
            Assert.Equal(1, digest.Cdf(0.31));
        }
    }

    [Fact]
    public void Inside_a_long_run_of_one_repeated_value_the_answer_is_that_value()
    {
        // Thirds of 10.01, 20.02 and 30.03: quantiles well inside a third must be exact, even
        // though the centroids there are means of thousands of equal values.
        var digest = new TDigest();
        for (var i = 0; i < 30_000; i++)
        {
            digest.Add(i % 3 == 0 ? 10.01 : i % 3 == 1 ? 20.02 : 30.03);
        }

        Assert.Equal(10.01, digest.Quantile(0.1));
        Assert.Equal(10.01, digest.Quantile(0.25));
        Assert.Equal(20.02, digest.Quantile(0.5));
        Assert.Equal(30.03, digest.Quantile(0.9));
        Assert.Equal(30.03, digest.Quantile(0.99));
        // Cdf counts half of the centroids whose mean is 20.02; the two centroids that straddle
        // a boundary between runs blur it by at most about a centroid's weight (S(0.5) ≈ 0.031).
        Assert.InRange(digest.Cdf(20.02), 0.5 - 0.031, 0.5 + 0.031);
    }

    [Fact]
    public void Two_decimal_cpu_readings_repeated_many_times_stay_accurate()
    {
        // 100,000 readings from only 10,001 distinct values, merged from 30 one-minute panes.
        var random = new Random(11);
        var values = new double[100_000];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = Math.Round(random.NextDouble() * 100, 2);
        }

        var window = new TDigest();
        for (var p = 0; p < 30; p++)
        {
            var pane = new TDigest();
            for (var i = p; i < values.Length; i += 30)
            {
                pane.Add(values[i]);
            }

            pane.Compact();
            window.Merge(pane);
        }

        var sorted = (double[])values.Clone();
        Array.Sort(sorted);
        foreach (var (q, bound) in new[] { (0.5, 0.002), (0.9, 0.001), (0.95, 0.001), (0.99, 0.0005), (0.999, 0.0002) })
        {
            Assert.True(RankOracle.RankError(sorted, q, window.Quantile(q)) <= bound, $"q={q}");
        }
    }

    [Fact]
    public void Many_compacted_panes_merged_one_by_one_and_queried_in_between_stay_accurate()
    {
        // 1,000 compacted panes of 300 values folded into one accumulator that is queried (so
        // compressed to δ) after every merge: a thousand rounds of the greedy merge, the case
        // where merge-order bias and centroid drift build up.
        var random = new Random(5);
        var all = new List<double>();
        var accumulator = new TDigest();
        for (var p = 0; p < 1_000; p++)
        {
            var pane = new TDigest();
            for (var i = 0; i < 300; i++)
            {
                var value = random.NextDouble();
                all.Add(value);
                pane.Add(value);
            }

            pane.Compact();
            accumulator.Merge(pane);
            accumulator.Quantile(0.5);
        }

        var sorted = all.Order().ToArray();
        foreach (var (q, bound) in new[] { (0.001, 0.0005), (0.01, 0.0008), (0.1, 0.0015), (0.5, 0.0015), (0.9, 0.0015), (0.99, 0.0008), (0.999, 0.0005) })
        {
            var error = RankOracle.RankError(sorted, q, accumulator.Quantile(q));
            Assert.True(error <= bound, $"q={q}: rank error {error}");
        }
    }

    [Fact]
    public void Quantiles_in_one_walk_are_bit_for_bit_the_quantiles_one_at_a_time()
    {
        // Digests of every shape and size (single values, weighted centroids from merges, a
        // buffer not yet merged), asked ascending as a row does, and in any order.
        var random = new Random(11);
        foreach (var kind in Enum.GetValues<ValueKind>())
        {
            foreach (var n in new[] { 1, 2, 3, 7, 60, 250, 5_000 })
            {
                var digest = new TDigest();
                foreach (var value in DigestValues.Generate(kind, n, random)) digest.Add(value);
                if (n > 60) digest.Merge(digest.Clone());
                var ascending = new[] { 0.5, 0.9, 0.95, 0.99 };
                var shuffled = SomeQuantiles.OrderBy(_ => random.Next()).ToArray();
                foreach (var quantiles in new[] { ascending, SomeQuantiles, shuffled })
                {
                    var values = new double[quantiles.Length];
                    digest.Clone().Quantiles(quantiles, values);
                    for (var k = 0; k < quantiles.Length; k++)
                    {
                        Assert.Equal(BitConverter.DoubleToInt64Bits(digest.Quantile(quantiles[k])), BitConverter.DoubleToInt64Bits(values[k]));
                    }
                }
            }
        }
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public void NaN_and_infinities_are_refused_and_change_nothing(double value)
    {
        var digest = new TDigest();
        digest.Add(1);

        Assert.Throws<ArgumentOutOfRangeException>(() => digest.Add(value));
        Assert.Throws<ArgumentOutOfRangeException>(() => digest.Add(value, 3));
        Assert.Equal(1, digest.Count);
        Assert.Equal(1, digest.Sum);
        Assert.Equal(1, digest.Max);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(-1L)]
    [InlineData(long.MinValue)]
    public void Weights_below_one_are_refused(long weight)
    {
        var digest = new TDigest();
        Assert.Throws<ArgumentOutOfRangeException>(() => digest.Add(1, weight));
        Assert.Equal(0, digest.Count);
    }

    [Theory]
    [InlineData(-0.0001)]
    [InlineData(1.0001)]
    [InlineData(double.NaN)]
    [InlineData(double.NegativeInfinity)]
    [InlineData(double.PositiveInfinity)]
    public void Quantiles_outside_0_to_1_are_refused(double q)
    {
        var digest = new TDigest();
        digest.Add(1);
        Assert.Throws<ArgumentOutOfRangeException>(() => digest.Quantile(q));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TDigest().Quantile(q));
    }

    [Theory]
    [InlineData(9.99)]
    [InlineData(10_001)]
    [InlineData(double.NaN)]
    public void Compression_outside_the_supported_range_is_refused(double compression) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new TDigest(compression));

    [Fact]
    public void Quantile_0_is_the_exact_min_quantile_1_the_exact_max_and_nothing_falls_outside()
    {
        var random = new Random(3);
        var digest = new TDigest();
        var min = double.MaxValue;
        var max = double.MinValue;
        for (var i = 0; i < 25_000; i++)
        {
            var value = (random.NextDouble() * 1e6) - 3e5;
            min = Math.Min(min, value);
            max = Math.Max(max, value);
            digest.Add(value);
        }

        Assert.Equal(min, digest.Quantile(0));
        Assert.Equal(max, digest.Quantile(1));
        Assert.Equal(min, digest.Min);
        Assert.Equal(max, digest.Max);
        for (var q = 0.0; q <= 1; q += 0.0005)
        {
            var v = digest.Quantile(q);
            Assert.InRange(v, min, max);
        }

        Assert.Equal(0, digest.Cdf(min - 1));
        Assert.Equal(1, digest.Cdf(max + 1));
    }

    [Fact]
    public void Values_at_the_ends_of_the_double_range_do_not_overflow_into_NaN()
    {
        var digest = new TDigest();
        for (var i = 0; i < 3_000; i++)
        {
            digest.Add(i % 2 == 0 ? double.MaxValue * 0.9 : -double.MaxValue * 0.9);
            digest.Add(i);
        }

        // The running sum overflows to +∞ here; it must survive the round trip as it is.
        digest.Add(double.MaxValue);
        digest.Add(double.MaxValue);
        Assert.Equal(double.PositiveInfinity, digest.Sum);

        var restored = TDigest.FromBytes(digest.ToBytes());
        AssertSameAnswers(digest, restored);
        for (var q = 0.0; q <= 1; q += 0.01)
        {
            Assert.InRange(digest.Quantile(q), -double.MaxValue, double.MaxValue);
        }

        for (var x = -1.0; x <= 1; x += 0.1)
        {
            Assert.InRange(digest.Cdf(x * double.MaxValue), 0, 1);
        }
    }

    [Fact]
    public void Quantile_and_cdf_are_monotone()
    {
        var random = new Random(8);
        var digest = new TDigest();
        for (var i = 0; i < 10_000; i++)
        {
            digest.Add(Math.Round(random.NextDouble() * random.NextDouble() * 100, 1));
        }

        var previous = double.NegativeInfinity;
        for (var q = 0.0; q <= 1; q += 0.001)
        {
            var v = digest.Quantile(q);
            Assert.True(v >= previous, $"Quantile({q}) = {v} < {previous}");
            previous = v;
        }

        var previousCdf = 0.0;
        for (var x = -1.0; x <= 101; x += 0.05)
        {
            var c = digest.Cdf(x);
            Assert.InRange(c, previousCdf, 1);
            previousCdf = c;
        }
    }

    [Fact]
    public void Count_min_max_sum_and_mean_are_exact_with_weights_and_merges()
    {
        var a = new TDigest();
        var b = new TDigest();
        a.Add(2.5, 4);
        a.Add(-1);
        b.Add(7, 1_000);
        b.Add(0.25);

        a.Merge(b);

        Assert.Equal(1_006, a.Count);
        Assert.Equal(-1, a.Min);
        Assert.Equal(7, a.Max);
        Assert.Equal(10 - 1 + 7_000 + 0.25, a.Sum);
        Assert.Equal(a.Sum / 1_006, a.Mean);
        // A weighted point is one centroid and, like any centroid, is modelled as spread around
        // its rank centre (here 506 of 1,006): from there up the answer is exactly 7.
        Assert.Equal(7, a.Quantile(0.51));
        Assert.Equal(7, a.Quantile(0.99));
    }

    [Fact]
    public void Small_digests_are_exact_order_statistics()
    {
        var values = new[] { 5.5, 1.25, 9.75, 3.0, 7.125 };
        var digest = new TDigest();
        foreach (var v in values)
        {
            digest.Add(v);
        }

        // Sorted 1.25, 3, 5.5, 7.125, 9.75: the i-th value owns ranks [i/5, (i+1)/5).
        Assert.Equal(1.25, digest.Quantile(0.1));
        Assert.Equal(3.0, digest.Quantile(0.3));
        Assert.Equal(5.5, digest.Quantile(0.5));
        Assert.Equal(7.125, digest.Quantile(0.7));
        Assert.Equal(9.75, digest.Quantile(0.9));
        Assert.Equal(0.1, digest.Cdf(1.25), 12);
        Assert.Equal(0.4, digest.Cdf(4), 12);
        Assert.Equal(0.5, digest.Cdf(5.5), 12);
        Assert.Equal(5, digest.CentroidCount);
    }

    [Fact]
    public void A_serialized_digest_round_trips_bit_for_bit_and_evolves_like_the_original()
    {
        var random = new Random(17);
        var original = new TDigest();
        for (var i = 0; i < 123_457; i++)
        {
            original.Add(Math.Round(random.NextDouble() * 100, 2));
        }

        original.Add(55.5, 1_000);

        var bytes = original.ToBytes();
        Assert.Equal(TDigest.FormatVersion, bytes[0]);
        Assert.Equal(bytes.Length, original.GetSerializedSize());
        var restored = TDigest.FromBytes(bytes);

        AssertSameAnswers(original, restored);
        Assert.Equal(bytes, restored.ToBytes());

        // Both continue with the same input: a restored snapshot must not diverge.
        for (var i = 0; i < 30_000; i++)
        {
            var value = random.NextDouble() * 100;
            original.Add(value);
            restored.Add(value);
        }

        AssertSameAnswers(original, restored);
        Assert.Equal(original.ToBytes(), restored.ToBytes());
    }

    [Fact]
    public void Empty_and_single_value_digests_round_trip()
    {
        var empty = new TDigest(200);
        var restoredEmpty = TDigest.FromBytes(empty.ToBytes());
        Assert.Equal(0, restoredEmpty.Count);
        Assert.Equal(200, restoredEmpty.Compression);
        Assert.True(double.IsNaN(restoredEmpty.Quantile(0.5)));
        Assert.Equal(0, restoredEmpty.Sum);

        var single = new TDigest();
        single.Add(-3.5);
        var restoredSingle = TDigest.FromBytes(single.ToBytes());
        AssertSameAnswers(single, restoredSingle);
    }

    [Fact]
    public void WriteTo_reports_its_length_and_refuses_a_short_destination()
    {
        var digest = new TDigest();
        for (var i = 0; i < 1_000; i++)
        {
            digest.Add(i);
        }

        var buffer = new byte[digest.GetSerializedSize() + 10];
        var written = digest.WriteTo(buffer);
        Assert.Equal(digest.GetSerializedSize(), written);
        Assert.Equal(digest.ToBytes(), buffer[..written]);
        Assert.Throws<ArgumentException>(() => digest.WriteTo(new byte[written - 1]));
    }

    /// <summary>
    /// Means and weights take under 600 bytes (57 centroids); each centroid's extremes add two
    /// or three bytes for readings of two decimals and 12–14 for full doubles.
    /// </summary>
    [Theory]
    [InlineData(2, 800)]
    [InlineData(-1, 1_450)]
    public void A_million_uniform_values_serialize_in_a_few_hundred_bytes(int decimals, int limit)
    {
        var random = new Random(1);
        var digest = new TDigest();
        for (var i = 0; i < 1_000_000; i++)
        {
            var value = random.NextDouble() * 100;
            digest.Add(decimals < 0 ? value : Math.Round(value, decimals));
        }

        Assert.InRange(digest.ToBytes().Length, 1, limit);
    }

    [Fact]
    public void Every_truncation_and_any_trailing_byte_is_a_FormatException()
    {
        var digest = new TDigest();
        for (var i = 0; i < 500; i++)
        {
            digest.Add(i * 0.37);
        }

        foreach (var bytes in new[] { digest.ToBytes(), new TDigest().ToBytes(), DecimalDigestBytes() })
        {
            for (var length = 0; length < bytes.Length; length++)
            {
                var prefix = bytes[..length];
                Assert.Throws<FormatException>(() => TDigest.FromBytes(prefix));
            }

            Assert.Throws<FormatException>(() => TDigest.FromBytes([.. bytes, 0]));
        }
    }

    [Theory]
    [InlineData(0, 0)]      // version 0
    [InlineData(0, 1)]      // version 1, not read any more
    [InlineData(0, 4)]      // a future version
    [InlineData(0, 255)]
    [InlineData(1, 0x08)]   // unknown flag
    public void Unknown_versions_and_flags_are_a_FormatException(int offset, byte value)
    {
        var bytes = SmallDigestBytes();
        bytes[offset] = value;
        Assert.Throws<FormatException>(() => TDigest.FromBytes(bytes));
    }

    [Fact]
    public void Content_no_digest_can_have_is_a_FormatException()
    {
        // SmallDigestBytes: version, flags, compression (8), count = 3 (1), min, max, sum (24),
        // centroid count = 3 (1), then (mean step, weight step) per centroid.
        var valid = SmallDigestBytes();
        Assert.Equal(3, valid[10]);
        Assert.Equal(3, valid[35]);

        Assert.Throws<FormatException>(() => TDigest.FromBytes(With(valid, 10, 4)));   // weights sum to 3, count says 4
        Assert.Throws<FormatException>(() => TDigest.FromBytes(With(valid, 35, 2)));   // centroid count disagrees with the bytes
        Assert.Throws<FormatException>(() => TDigest.FromBytes(With(valid, 35, 0)));
        Assert.Throws<FormatException>(() => TDigest.FromBytes(WithDouble(valid, 2, 5)));             // compression too small
        Assert.Throws<FormatException>(() => TDigest.FromBytes(WithDouble(valid, 11, double.NaN)));   // min
        Assert.Throws<FormatException>(() => TDigest.FromBytes(WithDouble(valid, 19, 0.5)));          // max below the means
        Assert.Throws<FormatException>(() => TDigest.FromBytes([.. valid[..10], 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])); // varint overflow
    }

    [Fact]
    public void A_clone_is_independent_of_its_original()
    {
        var original = new TDigest();
        for (var i = 0; i < 5_000; i++)
        {
            original.Add(i % 97);
        }

        var clone = original.Clone();
        var before = original.Quantile(0.9);
        AssertSameAnswers(original, clone);

        for (var i = 0; i < 5_000; i++)
        {
            clone.Add(1_000);
        }

        Assert.Equal(5_000, original.Count);
        Assert.Equal(96, original.Max);
        Assert.Equal(before, original.Quantile(0.9));

        original.Add(-5);
        Assert.Equal(10_000, clone.Count);
        Assert.Equal(0, clone.Min);
    }

    [Fact]
    public void Merge_leaves_its_argument_unchanged()
    {
        var random = new Random(23);
        var target = new TDigest();
        var other = new TDigest();
        for (var i = 0; i < 3_333; i++)
        {
            target.Add(random.NextDouble());
            other.Add(random.NextDouble() * 2); // leaves values in other's unsorted buffer
        }

        var snapshot = other.Clone();
        target.Merge(other);
        target.Quantile(0.5);

        Assert.Equal(6_666, target.Count);
        AssertSameAnswers(snapshot, other);
    }

    [Fact]
    public void Merging_a_digest_into_itself_doubles_it()
    {
        var digest = new TDigest();
        for (var i = 1; i <= 100; i++)
        {
            digest.Add(i);
        }

        digest.Merge(digest);

        Assert.Equal(200, digest.Count);
        Assert.Equal(10_100, digest.Sum);
        Assert.Equal(50.5, digest.Quantile(0.5), 0);
    }

    [Fact]
    public void Compact_keeps_the_answers_and_leaves_a_small_footprint()
    {
        var digest = new TDigest();
        var random = new Random(2);
        for (var i = 0; i < 60; i++)
        {
            digest.Add(Math.Round(random.NextDouble() * 100, 2));
        }

        var reference = digest.Clone();
        digest.Compact();

        // A clone of a compacted digest allocates exactly what the digest retains. 60 values of
        // two decimals spread over [0, 100) are kept in decimal form, in steps of about 170
        // hundredths: two bytes a value, where an array of 60 doubles took 504 bytes.
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var copy = digest.Clone();
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Assert.InRange(allocated, 150, 330);
        Assert.Equal(60, copy.Count);

        // Answering unpacks the values again, so this comes last.
        AssertSameAnswers(reference, digest);
    }

    [Theory]
    [InlineData(60, 3)]
    [InlineData(150, 2)]    // more values than merging to δ leaves single: kept as they are
    [InlineData(190, 0)]
    public void A_compacted_pane_of_decimal_readings_keeps_its_values_exactly_in_a_few_bytes_each(int n, int decimals)
    {
        var random = new Random(n);
        var digest = new TDigest();
        var values = new double[n];
        for (var i = 0; i < n; i++)
        {
            values[i] = Math.Round((random.NextDouble() * 200) - 100, decimals);
            digest.Add(values[i]);
        }

        var reference = digest.Clone();
        digest.Compact();
        var bytes = digest.ToBytes();

        // version, flags, compression, count, sum, decimals, then about two bytes a value.
        Assert.InRange(bytes.Length, 20 + n, 20 + (3 * n));
        var restored = TDigest.FromBytes(bytes);
        Assert.Equal(bytes, restored.ToBytes());
        Assert.Equal(bytes, reference.ToBytes());

        // Merged with others, the values are exactly the ones added.
        var merged = TDigest.MergeAll([digest, restored], compression: 10_000);
        Array.Sort(values);
        Assert.Equal(values[0], merged.Min);
        Assert.Equal(values[^1], merged.Max);
        Assert.Equal(values[n / 2], merged.Quantile((n + 0.5) / (2.0 * n)));

        AssertSameAnswers(reference, digest);
        AssertSameAnswers(reference, restored);
    }

    [Fact]
    public void A_pane_serialized_with_unmerged_values_evolves_like_the_original()
    {
        var random = new Random(3);
        var original = new TDigest();
        for (var i = 0; i < 70; i++)
        {
            original.Add(Math.Round(random.NextDouble() * 100, 3));
        }

        original.Compact();
        original.Add(12.5);                 // a straggler after compaction: values and buffer
        var bytes = original.ToBytes();
        Assert.Equal(6, bytes[1] & 6);      // decimal form, not yet merged to δ
        var restored = TDigest.FromBytes(bytes);

        for (var i = 0; i < 5_000; i++)
        {
            var value = Math.Round(random.NextDouble() * 100, 3);
            original.Add(value);
            restored.Add(value);
            if (i % 97 == 0)
            {
                original.Compact();
                restored.Compact();
            }
        }

        AssertSameAnswers(original, restored);
        Assert.Equal(original.ToBytes(), restored.ToBytes());
    }

    [Theory]
    [InlineData(0.1234567)]             // seven decimals
    [InlineData(1e-300)]
    [InlineData(1e17)]                  // an integer beyond 2^53
    public void Values_the_decimal_form_cannot_hold_exactly_keep_the_general_form(double odd)
    {
        var digest = new TDigest();
        digest.Add(1.5);
        digest.Add(odd);
        digest.Add(2.25);
        digest.Compact();
        var bytes = digest.ToBytes();
        Assert.Equal(0, bytes[1] & 2);
        var restored = TDigest.FromBytes(bytes);
        AssertSameAnswers(digest, restored);
        Assert.Equal(odd, restored.Quantile(odd > 2 ? 1 : 0));
    }

    [Fact]
    public void A_decimal_form_no_digest_can_have_is_a_FormatException()
    {
        // DecimalDigestBytes: version, flags, compression (8), count = 3 (1), sum (8),
        // decimals (1), first value 1 zigzagged (1), steps 1 and 1.
        var valid = DecimalDigestBytes();
        Assert.Equal(23, valid.Length);
        Assert.Equal(6, valid[1]);           // decimal form, not merged to δ yet
        Assert.Equal(0, valid[19]);
        Assert.Equal(3.0, TDigest.FromBytes(valid).Max);

        Assert.Throws<FormatException>(() => TDigest.FromBytes(With(valid, 1, 4)));     // "not merged" without the decimal form
        Assert.Throws<FormatException>(() => TDigest.FromBytes(With(valid, 19, 7)));    // more decimals than the form allows
        Assert.Throws<FormatException>(() => TDigest.FromBytes(With(valid, 10, 4)));    // count says 4, the bytes hold 3
        Assert.Throws<FormatException>(() => TDigest.FromBytes(With(valid, 10, 2)));    // count says 2, a value is left over
        Assert.Throws<FormatException>(() => TDigest.FromBytes(With(valid, 10, 0)));    // empty, yet in decimal form
        Assert.Throws<FormatException>(() => TDigest.FromBytes([.. valid[..20], 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 1, 1])); // first beyond 2^53
        Assert.Throws<FormatException>(() => TDigest.FromBytes([.. valid[..21], 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 1]));          // a step beyond 2^53
    }

    [Fact]
    public void A_digest_of_three_values_allocates_little()
    {
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var digest = new TDigest();
        digest.Add(1);
        digest.Add(2);
        digest.Add(3);
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;

        // The object plus a 16-slot buffer, not 10·δ slots up front.
        Assert.InRange(allocated, 1, 400);
    }

    /// <summary>Three values, one of seven decimals, so that the general form is written.</summary>
    private static byte[] SmallDigestBytes()
    {
        var digest = new TDigest();
        digest.Add(1.0000001);
        digest.Add(2);
        digest.Add(3);
        return digest.ToBytes();
    }

    private static byte[] DecimalDigestBytes()
    {
        var digest = new TDigest();
        digest.Add(1);
        digest.Add(2);
        digest.Add(3);
        return digest.ToBytes();
    }

    private static byte[] With(byte[] bytes, int offset, byte value)
    {
        var copy = (byte[])bytes.Clone();
        copy[offset] = value;
        return copy;
    }

    private static byte[] WithDouble(byte[] bytes, int offset, double value)
    {
        var copy = (byte[])bytes.Clone();
        BitConverter.GetBytes(value).CopyTo(copy, offset);
        return copy;
    }

    private static void AssertSameAnswers(TDigest expected, TDigest actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        Assert.Equal(expected.Min, actual.Min);
        Assert.Equal(expected.Max, actual.Max);
        Assert.Equal(expected.Sum, actual.Sum);
        Assert.Equal(expected.CentroidCount, actual.CentroidCount);
        for (var q = 0.0; q <= 1; q += 0.001)
        {
            // Assert.Equal on doubles compares exactly (bit for bit, apart from NaN == NaN).
            Assert.Equal(expected.Quantile(q), actual.Quantile(q));
            Assert.Equal(expected.QuantileBounds(q), actual.QuantileBounds(q));
        }

        for (var i = 0; i <= 200; i++)
        {
            // From a little below Min to a little above Max, without forming Max − Min (which
            // overflows for values near double.MaxValue).
            var t = (i - 10) / 180.0;
            var x = expected.Count == 0 ? i : (expected.Min * (1 - t)) + (expected.Max * t);
            Assert.Equal(expected.Cdf(x), actual.Cdf(x));
        }
    }
}
