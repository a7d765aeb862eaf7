using System.Buffers;

namespace MetricsCollector.Core.Digests;

/// <summary>
/// The sorts the digest needs: the radix sort of a buffer of raw values, and the bucket sort of
/// <see cref="TDigest.MergeAll"/>'s gathered points (sorted runs over much the same range).
/// </summary>
internal static class DigestSort
{
    // MergeAll's bucket sort: buckets up to this size are left to the final insertion sort,
    // and below this depth of re-bucketing crowded buckets go to the library sort (only
    // values packed ever more tightly around a few outliers get that far).
    private const int SmallSortLimit = 32;
    private const int MaxBucketSortDepth = 3;

    [ThreadStatic] private static ulong[]? t_sortKeys;
    [ThreadStatic] private static ulong[]? t_sortSpare;
    [ThreadStatic] private static int[]? t_sortOffsets;

    /// <summary>
    /// Sorts the points in <paramref name="fromValues"/> by value into <paramref name="toValues"/>,
    /// with their payload (weights and extremes) alongside unless the payload spans are empty
    /// (all weights 1); the "from" spans are scratch afterwards. A counting sort into buckets
    /// by position in [min, max], then an insertion sort that only has to fix the order inside
    /// buckets. Crowded buckets are sorted the same way over their own range first, so that a
    /// single outlier, which squeezes everything else into a few buckets, costs one more level
    /// rather than a quadratic insertion sort.
    /// </summary>
    internal static void SortInto<T>(Span<double> fromValues, Span<T> fromPayload, Span<double> toValues, Span<T> toPayload,
        double min, double max, int depth)
        where T : struct
    {
        var n = fromValues.Length;
        // Two points per bucket on average: clearing and summing up the bucket counts costs
        // about as much per bucket as the insertion sort saves per point (measured).
        var buckets = n / 2;
        var map = new BucketMap(min, max, buckets);
        if (min == max || n <= SmallSortLimit || depth == MaxBucketSortDepth || !map.IsUsable)
        {
            fromValues.CopyTo(toValues);
            fromPayload.CopyTo(toPayload);
            if (min == max)
            {
                return;
            }

            if (n <= SmallSortLimit)
            {
                InsertionSort(toValues, toPayload);
            }
            else if (fromPayload.IsEmpty)
            {
                toValues.Sort();
            }
            else
            {
                toValues.Sort(toPayload);
            }

            return;
        }

        var rented = ArrayPool<int>.Shared.Rent(buckets + 1 + n);
        try
        {
            var ends = rented.AsSpan(0, buckets + 1);
            var bucketOf = rented.AsSpan(buckets + 1, n);
            var largest = CountBuckets(fromValues, map, ends, bucketOf);
            if (fromPayload.IsEmpty)
            {
                Scatter(fromValues, bucketOf, ends, toValues);
            }
            else
            {
                Scatter(fromValues, fromPayload, bucketOf, ends, toValues, toPayload);
            }

            if (largest > SmallSortLimit)
            {
                SortCrowdedBuckets(fromValues, fromPayload, toValues, toPayload, ends, depth);
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(rented);
        }

        InsertionSort(toValues, toPayload);
    }

    /// <summary>
    /// Sets <c>ends[b]</c> to where bucket b starts (so that filling a bucket moves it to where
    /// the bucket ends) and returns the largest bucket's size.
    /// </summary>
    private static int CountBuckets(ReadOnlySpan<double> values, BucketMap map, Span<int> ends, Span<int> bucketOf)
    {
        ends.Clear();
        for (var i = 0; i < values.Length; i++)
        {
            var b = map.Of(values[i]);
            bucketOf[i] = b;
            ends[b + 1]++;
        }

        var largest = 0;
        for (var b = 1; b < ends.Length; b++)
        {
            largest = Math.Max(largest, ends[b]);
            ends[b] += ends[b - 1];
        }

        return largest;
    }

    private static void Scatter(ReadOnlySpan<double> values, ReadOnlySpan<int> bucketOf, Span<int> ends, Span<double> toValues)
    {
        for (var i = 0; i < values.Length; i++)
        {
            toValues[ends[bucketOf[i]]++] = values[i];
        }
    }

    private static void Scatter<T>(ReadOnlySpan<double> values, ReadOnlySpan<T> payload, ReadOnlySpan<int> bucketOf, Span<int> ends,
        Span<double> toValues, Span<T> toPayload)
        where T : struct
    {
        for (var i = 0; i < values.Length; i++)
        {
            var slot = ends[bucketOf[i]]++;
            toValues[slot] = values[i];
            toPayload[slot] = payload[i];
        }
    }

    private static void SortCrowdedBuckets<T>(Span<double> fromValues, Span<T> fromPayload, Span<double> toValues, Span<T> toPayload,
        ReadOnlySpan<int> ends, int depth)
        where T : struct
    {
        var carried = !fromPayload.IsEmpty;
        var start = 0;
        foreach (var end in ends[..^1])
        {
            if (end - start > SmallSortLimit)
            {
                var bucketValues = toValues[start..end];
                var bucketMin = double.PositiveInfinity;
                var bucketMax = double.NegativeInfinity;
                foreach (var x in bucketValues)
                {
                    bucketMin = Math.Min(bucketMin, x);
                    bucketMax = Math.Max(bucketMax, x);
                }

                // Runs of one repeated value (0 % and 100 % readings) are sorted already.
                if (bucketMin != bucketMax)
                {
                    bucketValues.CopyTo(fromValues[start..end]);
                    var bucketPayload = carried ? toPayload[start..end] : [];
                    var sparePayload = carried ? fromPayload[start..end] : [];
                    bucketPayload.CopyTo(sparePayload);
                    SortInto(fromValues[start..end], sparePayload, bucketValues, bucketPayload, bucketMin, bucketMax, depth + 1);
                }
            }

            start = end;
        }
    }

    /// <summary>
    /// Maps values in [min, max] monotonically onto buckets 0 … count − 1 of equal width —
    /// monotonic is all the sort needs. Halves keep max − min finite for finite bounds of
    /// opposite sign; a finite scale keeps every product inside [0, count], so the conversion
    /// needs no saturation.
    /// </summary>
    private readonly struct BucketMap(double min, double max, int count)
    {
        private readonly double _halfMin = min * 0.5;
        private readonly double _scale = count / ((max * 0.5) - (min * 0.5));
        private readonly int _last = count - 1;

        public bool IsUsable => double.IsFinite(_scale);

        public int Of(double x) => Math.Min(double.ConvertToIntegerNative<int>(((x * 0.5) - _halfMin) * _scale), _last);
    }

    /// <summary>Stable insertion sort by value; <paramref name="payload"/> is empty or moves alongside.</summary>
    internal static void InsertionSort<T>(Span<double> values, Span<T> payload)
        where T : struct
    {
        var carried = !payload.IsEmpty;
        for (var i = 1; i < values.Length; i++)
        {
            var x = values[i];
            if (values[i - 1] <= x)
            {
                continue;
            }

            var carriedItem = carried ? payload[i] : default;
            var j = i;
            do
            {
                values[j] = values[j - 1];
                if (carried)
                {
                    payload[j] = payload[j - 1];
                }

                j--;
            }
            while (j > 0 && values[j - 1] > x);

            values[j] = x;
            if (carried)
            {
                payload[j] = carriedItem;
            }
        }
    }

    /// <summary>
    /// Sorting the buffer is most of what Add costs. An LSD radix sort over order-preserving keys
    /// does it in a fixed number of linear passes — 8-bit digits, skipping every digit all keys
    /// share (the sign, often the exponent) — about 2.5× faster than Array.Sort's introsort on
    /// 1,000 random doubles. Its scratch space is per thread rather than per digest, so idle
    /// digests do not carry it.
    /// </summary>
    internal static void RadixSort(double[] values, int count)
    {
        if (count < 2)
        {
            return;
        }

        var keys = t_sortKeys is { } k && k.Length >= count ? k : t_sortKeys = new ulong[values.Length];
        var spare = t_sortSpare is { } sp && sp.Length >= count ? sp : t_sortSpare = new ulong[values.Length];
        var offsets = t_sortOffsets ??= new int[8 * 256];
        Array.Clear(offsets);

        for (var i = 0; i < count; i++)
        {
            // Flipping the sign bit turns OrderKey's signed order into unsigned order.
            var key = unchecked((ulong)OrderKey(values[i]) ^ 0x8000_0000_0000_0000UL);
            keys[i] = key;
            for (var digit = 0; digit < 8; digit++)
            {
                offsets[(digit << 8) | (int)((key >> (digit * 8)) & 0xFF)]++;
            }
        }

        for (var digit = 0; digit < 8; digit++)
        {
            var shift = digit * 8;
            var histogram = offsets.AsSpan(digit << 8, 256);
            if (histogram[(int)((keys[0] >> shift) & 0xFF)] == count)
            {
                continue;
            }

            var start = 0;
            for (var b = 0; b < 256; b++)
            {
                var n = histogram[b];
                histogram[b] = start;
                start += n;
            }

            for (var i = 0; i < count; i++)
            {
                var key = keys[i];
                spare[histogram[(int)((key >> shift) & 0xFF)]++] = key;
            }

            (keys, spare) = (spare, keys);
        }

        for (var i = 0; i < count; i++)
        {
            values[i] = FromOrderKey(unchecked((long)(keys[i] ^ 0x8000_0000_0000_0000UL)));
        }
    }

    // IEEE-754 bit patterns order like the numbers for non-negative doubles and in reverse for
    // negative ones; flipping the magnitude bits of negatives makes one signed order for all.
    internal static long OrderKey(double value)
    {
        var bits = BitConverter.DoubleToInt64Bits(value);
        return bits >= 0 ? bits : bits ^ long.MaxValue;
    }

    internal static double FromOrderKey(long key) =>
        BitConverter.Int64BitsToDouble(key >= 0 ? key : key ^ long.MaxValue);

}
