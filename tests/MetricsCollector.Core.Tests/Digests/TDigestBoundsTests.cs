using System.Runtime.InteropServices;
using CsCheck;
using MetricsCollector.Core.Digests;
using MetricsCollector.Testing;

namespace MetricsCollector.Core.Tests.Digests;

/// <summary>
/// <see cref="TDigest.QuantileBounds(double)"/> against the exact oracle: the bounds must hold
/// every exact answer (<see cref="RankOracle.ExactAnswers"/>) every time, not nearly always,
/// however the values were split, merged, compacted and sent through bytes.
/// </summary>
public sealed class TDigestBoundsTests
{
    private const double Compression = 100;
    private static readonly double[] SomeQuantiles = [0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1];

    [Fact]
    public void Bounds_hold_the_exact_quantiles_however_the_values_are_split_and_merged() =>
        Gen.Select(Gen.Enum<ValueKind>(), Gen.Int[1, 20_000], Gen.Int[1, 40], Gen.Int, Gen.Bool)
            .Sample((kind, n, pieces, seed, all) => CheckBounds(kind, n, pieces, seed, all), iter: 400);

    [Fact]
    public void Bounds_of_small_sets_are_the_exact_answers() =>
        Gen.Select(Gen.Enum<ValueKind>(), Gen.Int[1, 50], Gen.Int[1, 50], Gen.Int, Gen.Bool)
            .Sample((kind, n, pieces, seed, all) =>
            {
                var (digest, sorted) = Build(kind, n, pieces, seed, all);
                foreach (var q in SomeQuantiles)
                {
                    var (lowest, highest) = RankOracle.ExactAnswers(sorted, q);
                    Assert.Equal(new ValueRange(lowest, highest), digest.QuantileBounds(q));
                }
            }, iter: 1000);

    [Fact]
    public void A_repeated_value_is_bounded_by_itself_alone()
    {
        const double value = 37.23;
        var pieces = Enumerable.Range(0, 30).Select(_ => new TDigest(Compression)).ToArray();
        for (var i = 0; i < 60_000; i++)
        {
            pieces[i % pieces.Length].Add(value);
        }

        var merged = TDigest.MergeAll(pieces, Compression);
        merged.Add(value, 5_000);
        var restored = TDigest.FromBytes(merged.ToBytes());
        Assert.All(SomeQuantiles, q => Assert.Equal(new ValueRange(value, value), restored.QuantileBounds(q)));
    }

    [Fact]
    public void The_bounds_of_a_digest_of_many_values_are_about_one_centroid_wide()
    {
        var random = new Random(3);
        var digest = new TDigest(Compression);
        for (var i = 0; i < 100_000; i++)
        {
            digest.Add(Math.Round(random.NextDouble() * 100, 2));
        }

        // Uniform on [0, 100]: a centroid around q holds about 2π·√(q(1−q))/δ of the values.
        foreach (var q in new[] { 0.5, 0.9, 0.99 })
        {
            var bounds = digest.QuantileBounds(q);
            var width = bounds.High - bounds.Low;
            Assert.InRange(width, 0.01, 2.5 * 100 * RankOracle.CentroidSizeBound(q, Compression));
        }
    }

    [Fact]
    public void Several_quantiles_at_once_give_what_each_gives_alone()
    {
        var random = new Random(5);
        var digest = new TDigest(Compression);
        for (var i = 0; i < 10_000; i++)
        {
            digest.Add(random.NextDouble() * 100, 1 + random.Next(3));
        }

        var together = new ValueRange[SomeQuantiles.Length];
        digest.QuantileBounds(SomeQuantiles, together);
        Assert.Equal(SomeQuantiles.Select(digest.QuantileBounds), together);
    }

    [Fact]
    public void An_empty_digest_has_no_bounds_and_quantiles_outside_0_to_1_are_refused()
    {
        var digest = new TDigest();
        Assert.True(double.IsNaN(digest.QuantileBounds(0.5).Low));
        Assert.True(double.IsNaN(digest.QuantileBounds(0.5).High));
        digest.Add(1);
        Assert.Throws<ArgumentOutOfRangeException>(() => digest.QuantileBounds(1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => digest.QuantileBounds(double.NaN));
        Assert.Throws<ArgumentException>(() => digest.QuantileBounds([0.5, 0.9], new ValueRange[1]));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(-1)]
    public void The_extremes_cross_the_wire_format_exactly(int decimals)
    {
        var random = new Random(11);
        var pieces = Enumerable.Range(0, 7).Select(_ => new TDigest(Compression)).ToArray();
        for (var i = 0; i < 20_000; i++)
        {
            var value = random.NextDouble() * 100;
            pieces[random.Next(pieces.Length)].Add(decimals < 0 ? value : Math.Round(value, decimals));
        }

        var digest = TDigest.MergeAll(pieces, Compression);
        var restored = TDigest.FromBytes(digest.ToBytes());

        Assert.Equal(digest.ToBytes(), restored.ToBytes());
        Assert.All(SomeQuantiles, q => Assert.Equal(digest.QuantileBounds(q), restored.QuantileBounds(q)));
    }

    /// <summary>
    /// A blob written by version 2 (before the extremes), of the values i·0.37 for i &lt; 300
    /// and 55.5 forty times: what stored window parts and snapshots of an older node hold.
    /// </summary>
    [Fact]
    public void A_version_2_blob_keeps_its_answers_and_gets_bounds_that_still_hold()
    {
        var blob = Convert.FromHexString(
            "02010000000000005940D4020000000000000000B81E85EB51A85B4000000000A05FD240350002AE8F85D7C7C2EBEB3F008080808080808008008AAE8F85D7C7C206029085D7C7C2EBE30500E6CC99B3E6CCD903029AB3E6CC99B3A60400AE8F85D7C7C2CB0202ECA3E1F5D1F0FA0200A3E1F5D1F0FAE80202B4E6CC99B3E6EC0100D2F0FAA8B8BD840202F1FAA8B8BD949C020088AE8F85D7C7F20102D7C7C2EBA3E1A50100E7CC99B3E6CCB10102F6D1F0FAA8B8BD0100F6D1F0FAA8B8BD010084D7C7C2EBA3C90102F3FAA8B8BD947C008AAE8F85D7C76A00D3F0FAA8B8BD700299B3E6CC99B3760099B3E6CC99B376009AB3E6CC99B37600A3E1F5D1F0FA4C0D8F85D7C7C2EB0B4A96DC9E8AAE8F413B9AB3E6CC99B37600F5D1F0FAA8B86700CD99B3E6CC993B00A8B8BD94DC9E380186D7C7C2EBA3350085D7C7C2EBA33500E1F5D1F0FAA83201BE94DC9E8AAE2F00BD94DC9E8AAE2F0099B3E6CC99B32C01F6D1F0FAA8B82900D2F0FAA8B8BD2601AE8F85D7C7C223008AAE8F85D7C72001E6CC99B3E6CC1D00C3EBA3E1F5D11A019F8AAE8F85D71700FAA8B8BD94DC1401D7C7C2EBA3E11100B3E6CC99B3E60E019085D7C7C2EB0B00EBA3E1F5D1F00801C8C2EBA3E1F50500C8C2EBA3E1F50500C7C2EBA3E1F50500");
        var values = Enumerable.Range(0, 300).Select(i => i * 0.37).Concat(Enumerable.Repeat(55.5, 40)).Order().ToArray();

        var digest = TDigest.FromBytes(blob);

        Assert.Equal(340, digest.Count);
        Assert.Equal(53, digest.CentroidCount);
        // What version 2 answered, to the bit.
        Assert.Equal(55.48279069767442, digest.Quantile(0.5));
        Assert.Equal(98.23500000000001, digest.Quantile(0.9));
        Assert.Equal(109.52, digest.Quantile(0.99));
        foreach (var q in SomeQuantiles)
        {
            var (lowest, highest) = RankOracle.ExactAnswers(values, q);
            var bounds = digest.QuantileBounds(q);
            Assert.True(bounds.Low <= lowest && highest <= bounds.High, $"q={q}: {bounds} misses [{lowest}, {highest}]");
        }

        Assert.Equal(TDigest.FormatVersion, digest.ToBytes()[0]);
    }

    [Fact]
    public void Extremes_no_digest_can_have_are_a_FormatException()
    {
        // Two centroids of repeated values, 1.5 ×3 and 2.25 ×2: the bytes end with the decimals
        // of the extremes (2) and, per centroid, zigzag(min step) and width in hundredths:
        // 300 (0xAC 0x02), 0, 150 (0x96 0x01), 0.
        var digest = new TDigest(Compression);
        digest.Add(1.5, 3);
        digest.Add(2.25, 2);
        var valid = digest.ToBytes();
        Assert.Equal([2, 0xAC, 0x02, 0, 0x96, 0x01, 0], valid[^7..]);
        Assert.Equal(new ValueRange(1.5, 1.5), TDigest.FromBytes(valid).QuantileBounds(0.2));

        Assert.Throws<FormatException>(() => TDigest.FromBytes(With(valid, valid.Length - 7, 7)));      // seven decimals
        Assert.Throws<FormatException>(() => TDigest.FromBytes(With(valid, valid.Length - 6, 0xAE)));   // min 1.51 above the mean 1.5
        Assert.Throws<FormatException>(() => TDigest.FromBytes(With(valid, valid.Length - 1, 10)));     // max 2.35 above the digest's max
        Assert.Throws<FormatException>(() => TDigest.FromBytes(With(valid, valid.Length - 7, 0xFF)));   // key steps: 0xAC 0x02 is not a varint pair here
    }

    private static void CheckBounds(ValueKind kind, int n, int pieces, int seed, bool all)
    {
        var (digest, sorted) = Build(kind, n, pieces, seed, all);
        var random = new Random(seed);
        foreach (var q in SomeQuantiles.Append(random.NextDouble()))
        {
            var (lowest, highest) = RankOracle.ExactAnswers(sorted, q);
            var bounds = digest.QuantileBounds(q);
            Assert.True(bounds.Low <= lowest && highest <= bounds.High,
                $"{kind} n={n} pieces={pieces} seed={seed}: q={q} bounds {bounds} miss the exact [{lowest}, {highest}]");
        }
    }

    /// <summary>The values of <paramref name="kind"/> cut into pieces in every state a pane can be in, merged pairwise in random order or all at once.</summary>
    private static (TDigest Digest, double[] Sorted) Build(ValueKind kind, int n, int pieces, int seed, bool all)
    {
        var random = new Random(seed);
        var values = DigestValues.Generate(kind, n, random);
        var digests = DigestPieces.Split(values, pieces, random, Compression);
        var digest = all ? TDigest.MergeAll(CollectionsMarshal.AsSpan(digests), Compression) : DigestPieces.PairwiseMerges(digests, random);
        if (random.Next(2) == 0)
        {
            digest = TDigest.FromBytes(digest.ToBytes());
        }

        Array.Sort(values);
        return (digest, values);
    }

    private static byte[] With(byte[] bytes, int offset, byte value)
    {
        var copy = (byte[])bytes.Clone();
        copy[offset] = value;
        return copy;
    }
}
