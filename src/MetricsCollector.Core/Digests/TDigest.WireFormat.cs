using System.Buffers;
using System.Buffers.Binary;

namespace MetricsCollector.Core.Digests;

// The wire format: what snapshots and stored window parts hold, versioned and checked on read.
public sealed partial class TDigest
{
    /// <summary>First byte of every serialized digest.</summary>
    public const byte FormatVersion = 3;

    // Version 2 blobs (stored window parts, snapshots of an older node) are still read.
    private const byte OldestReadableVersion = 2;

    // The spreads' decimals byte when some extreme has more than MaxDecimals places.
    private const byte NotDecimal = 0xFF;

    private const byte FlagMergeRightToLeft = 1;
    private const byte FlagDecimal = 2;
    private const byte FlagUncompressed = 4;

    // Serialized form, version 3 (little-endian; varint = unsigned LEB128):
    //   byte    version (3)
    //   byte    flags: bit 0 = the next merge runs right to left; bit 1 = decimal form;
    //           bit 2 = (decimal form only) the values are not yet merged to δ; other bits 0
    //   double  compression
    //   varint  count
    //   if count > 0, decimal form (the values themselves, sorted; see Memory in TDigest.cs):
    //     double  sum
    //     byte    decimals d
    //     varint  first value in units of 10^−d, zigzag-encoded; then per further value a
    //             varint step in those units, up to the end of the bytes
    //   if count > 0, otherwise:
    //     double min, double max, double sum
    //     varint  centroid count
    //     per centroid: varint mean step, varint weight step   (weights sum to count)
    //     byte    d: the decimals of every extreme below (see the decimal form), or 0xFF
    //     per centroid of weight > 1 (one value needs no extremes), its smallest and largest value:
    //       d ≤ 6:  varint zigzag(min − the previous such min), varint (max − min), in units of
    //               10^−d (the first min's step from 0)
    //       0xFF:   varint key(mean) − key(min), varint key(max) − key(mean)
    // Version 2 is version 3 without the extremes; a centroid of weight > 1 read from it is
    // given the digest's own min and max, which are true but say little. Version 1 had only the
    // second form; it is not read.
    // The decimal form is what Compact keeps in memory, so idle panes are written and restored
    // without converting anything; at 3 decimals a pane of readings takes about two bytes a
    // value. A digest of few enough such values is written in it, buffer and all, without being
    // merged to δ: merging the sorted values later gives the same centroids as merging the
    // centroids and the buffer would have, and bit 2 says whether that merge is still due.
    // Otherwise means are exact doubles, written as steps between order-preserving 64-bit
    // keys of consecutive means (the first step from min): the means ascend, so every step is
    // non-negative and small when means are close, saving one to two bytes per centroid over
    // raw doubles while staying bit-exact (floats would turn a run of 37.23s into 37.2299995).
    // Weights change smoothly from one centroid to the next (the k1 bound does), so each is
    // written as the zigzag-encoded difference from the previous one: mid-range centroids of a
    // large digest then take two bytes instead of three.
    // The extremes are values that were added, so readings of a few decimals write them in a
    // couple of bytes each, exactly; others as steps between order keys, exact too but 6–8
    // bytes each.
    // The digest is compressed before writing, so the centroids written are exactly its state;
    // with the merge direction this makes a deserialized digest answer, and evolve under further
    // adds, bit for bit like the original: a restored snapshot continues as if the process had
    // never stopped.

    /// <summary>Bytes <see cref="WriteTo"/> will write (takes the buffer in first).</summary>
    public int GetSerializedSize()
    {
        var layout = Layout();
        var scratch = ArrayPool<byte>.Shared.Rent(MaxSize(layout));
        try
        {
            return Encode(scratch, layout);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>Writes the digest (taking the buffer in first) and returns the bytes written.</summary>
    public int WriteTo(Span<byte> destination)
    {
        var layout = Layout();
        if (destination.Length >= MaxSize(layout))
        {
            return Encode(destination, layout);
        }

        var scratch = ArrayPool<byte>.Shared.Rent(MaxSize(layout));
        try
        {
            var size = Encode(scratch, layout);
            if (destination.Length < size)
            {
                throw new ArgumentException($"Destination holds {destination.Length} bytes; {size} are needed.", nameof(destination));
            }

            scratch.AsSpan(0, size).CopyTo(destination);
            return size;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    public byte[] ToBytes()
    {
        // Encoded once into scratch space and copied: measuring the size first would walk the
        // centroids twice.
        var layout = Layout();
        var scratch = ArrayPool<byte>.Shared.Rent(MaxSize(layout));
        try
        {
            return scratch.AsSpan(0, Encode(scratch, layout)).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>
    /// Reads a digest written by <see cref="WriteTo"/>. Throws <see cref="FormatException"/> on an
    /// unknown version, truncated or trailing bytes, or content no digest can have.
    /// </summary>
    public static TDigest FromBytes(ReadOnlySpan<byte> source) => Read(source, null);

    /// <summary>
    /// <see cref="FromBytes"/> into <paramref name="scratch"/> when the blob has its compression,
    /// keeping its arrays (for a digest read, changed, turned into a row and dropped); else into
    /// a new digest. Returns the digest read.
    /// </summary>
    internal static TDigest ReadInto(ReadOnlySpan<byte> source, TDigest scratch) => Read(source, scratch);

    private static TDigest Read(ReadOnlySpan<byte> source, TDigest? scratch)
    {
        var reader = new Reader(source);
        var version = reader.Byte();
        if (version is < OldestReadableVersion or > FormatVersion)
        {
            throw new FormatException($"Unknown t-digest format version {version}.");
        }

        var flags = reader.Byte();
        if ((flags & ~(FlagMergeRightToLeft | FlagDecimal | FlagUncompressed)) != 0
            || ((flags & FlagUncompressed) != 0 && (flags & FlagDecimal) == 0))
        {
            throw new FormatException($"Unknown t-digest flags 0x{flags:x2}.");
        }

        var compression = reader.Double();
        if (!(compression >= MinCompression && compression <= MaxCompression))
        {
            throw new FormatException($"Compression {compression} is out of range.");
        }

        var reuse = scratch is not null && scratch.Compression == compression;
        var digest = reuse ? scratch! : new TDigest(compression);
        if (reuse)
        {
            digest.Clear();
        }

        digest._mergeRightToLeft = (flags & FlagMergeRightToLeft) != 0;
        var count = reader.Varint();
        var decimalForm = (flags & FlagDecimal) != 0;
        if (count == 0)
        {
            if (decimalForm)
            {
                throw new FormatException("An empty t-digest has no decimal form.");
            }

            reader.End();
            return digest;
        }

        // Weights are held as doubles, exact up to 2^53.
        if (count > 1UL << 53)
        {
            throw new FormatException("Count is out of range.");
        }

        if (decimalForm)
        {
            digest._sum = reader.Double();
            var packed = reader.Rest();
            CheckDecimalForm(packed, count, out digest._min, out digest._max);
            digest._packed = packed.ToArray();
            digest._means = [];
            digest._spreads = null;
            digest._centroidCount = (int)count;
            digest._centroidWeight = (long)count;
            digest._compressed = (flags & FlagUncompressed) == 0;
            return digest;
        }

        var min = reader.Double();
        var max = reader.Double();
        var sum = reader.Double();
        // Add stores −0 as +0, so a −0 bound can only come from a forged blob; it would let a
        // −0 mean sit after a +0 one, which compare equal but break the ascending order keys.
        // The sum is not checked: a plain running sum of values near double.MaxValue can
        // legitimately overflow to ±∞ (or NaN), and the round trip must keep it as it was.
        if (!double.IsFinite(min) || !double.IsFinite(max) || min > max
            || (double.IsNegative(min) && min == 0) || (double.IsNegative(max) && max == 0))
        {
            throw new FormatException("Min or max is invalid.");
        }

        var centroidCount = reader.Varint();
        // Each centroid takes at least 2 bytes: checking this first keeps a corrupt count from
        // allocating gigabytes.
        if (centroidCount == 0 || centroidCount > count || centroidCount > (ulong)reader.Remaining / 2)
        {
            throw new FormatException("Centroid count is invalid.");
        }

        var n = (int)centroidCount;
        var means = reuse ? digest.MeansFor(n) : new double[n];
        var rentedWeights = ArrayPool<double>.Shared.Rent(n);
        var weights = rentedWeights.AsSpan(0, n);
        try
        {
            ReadCentroids(ref reader, count, min, max, means.AsSpan(0, n), weights);
            var storage = reuse ? digest.SpreadsFor(n) : null;
            var spreads = version > OldestReadableVersion ? ReadSpreads(ref reader, means.AsSpan(0, n), weights, min, max, storage)
                : centroidCount == count ? null
                : WholeRangeSpreads(weights, min, max, storage);
            reader.End();
            digest._means = means;
            digest._spreads = spreads;
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rentedWeights);
        }

        digest._centroidCount = n;
        digest._centroidWeight = (long)count;
        digest._min = min;
        digest._max = max;
        digest._sum = sum;
        return digest;
    }

    /// <summary>Reads the means and weights of the centroid form and checks them against the count and the digest's range.</summary>
    private static void ReadCentroids(ref Reader reader, ulong count, double min, double max, Span<double> means, Span<double> weights)
    {
        var n = means.Length;
        ulong total = 0;
        var previous = DigestSort.OrderKey(min);
        var last = DigestSort.OrderKey(max);
        long previousWeight = 0;
        for (var i = 0; i < n; i++)
        {
            var step = reader.Varint();
            // Wrapping is harmless here: any 64-bit result is checked against the count below.
            var weight = unchecked((ulong)(previousWeight + UnZigZag(reader.Varint())));
            // Keys between those of two finite doubles are finite doubles, so staying at or
            // below max's key keeps every mean finite, ascending and within [min, max].
            if (step > unchecked((ulong)(last - previous)))
            {
                throw new FormatException("Centroid means must be ascending and within [min, max].");
            }

            var key = unchecked(previous + (long)step);
            var mean = DigestSort.FromOrderKey(key);
            if (mean == 0 && double.IsNegative(mean))
            {
                throw new FormatException("Centroid means are never −0.");
            }

            if (weight == 0 || weight > count - total)
            {
                throw new FormatException("Centroid weights must be positive and sum to the count.");
            }

            means[i] = mean;
            weights[i] = weight;
            total += weight;
            previous = key;
            previousWeight = (long)weight;
        }

        if (total != count)
        {
            throw new FormatException("Centroid weights must sum to the count.");
        }
    }

    /// <summary>
    /// Extremes for a version 2 blob, which has none: every centroid of more than one value
    /// may hold anything between the digest's min and max.
    /// </summary>
    private static Spread[] WholeRangeSpreads(ReadOnlySpan<double> weights, double min, double max, Spread[]? spreads)
    {
        spreads ??= new Spread[weights.Length];
        for (var i = 0; i < weights.Length; i++)
        {
            spreads[i] = new Spread(weights[i], min, max);
        }

        return spreads;
    }

    /// <summary>
    /// Reads the extremes of version 3 (see the format above) and checks them against the means
    /// and the digest's range; null when every centroid is one value.
    /// </summary>
    private static Spread[]? ReadSpreads(ref Reader reader, ReadOnlySpan<double> means, ReadOnlySpan<double> weights, double min, double max, Spread[]? spreads)
    {
        var decimals = reader.Byte();
        if (decimals > MaxDecimals && decimals != NotDecimal)
        {
            throw new FormatException($"The extremes have at most {MaxDecimals} decimals, not {decimals}.");
        }

        if (!weights.ContainsAnyExcept(1))
        {
            return null;
        }

        const long limit = (long)MaxExactInteger;
        spreads ??= new Spread[means.Length];
        long previousMin = 0;
        for (var i = 0; i < means.Length; i++)
        {
            var mean = means[i];
            if (weights[i] == 1)
            {
                spreads[i] = Spread.Of(mean, 1);
                continue;
            }

            double low, high;
            if (decimals == NotDecimal)
            {
                var key = DigestSort.OrderKey(mean);
                var down = reader.Varint();
                var up = reader.Varint();
                if (down > unchecked((ulong)(key - DigestSort.OrderKey(min))) || up > unchecked((ulong)(DigestSort.OrderKey(max) - key)))
                {
                    throw new FormatException("A centroid's extremes must lie within [min, max].");
                }

                low = DigestSort.FromOrderKey(unchecked(key - (long)down));
                high = DigestSort.FromOrderKey(unchecked(key + (long)up));
            }
            else
            {
                var step = UnZigZag(reader.Varint());
                var width = reader.Varint();
                if (step < -limit || step > limit || Math.Abs(previousMin + step) > limit
                    || width > (ulong)limit || Math.Abs(previousMin + step + (long)width) > limit)
                {
                    throw new FormatException("A centroid's extremes are out of range.");
                }

                previousMin += step;
                var scale = PowersOfTen[decimals];
                low = previousMin / scale;
                high = (previousMin + (long)width) / scale;
            }

            if (!(low <= mean && mean <= high && low >= min && high <= max) || (low == 0 && double.IsNegative(low)) || (high == 0 && double.IsNegative(high)))
            {
                throw new FormatException("A centroid's extremes must hold its mean and lie within [min, max].");
            }

            spreads[i] = new Spread(weights[i], low, high);
        }

        return spreads;
    }

    /// <summary>
    /// How the digest is written: the values in decimal form when they are written so (the
    /// buffer moved into it); else after merging the buffer in, with the decimals of its
    /// centroids' extremes. Either way the buffer is empty afterwards, so the digest and one
    /// read back from what is written fill and merge their buffers in step.
    /// </summary>
    private WireLayout Layout()
    {
        if (TryPack())
        {
            return new WireLayout(_packed, NotDecimal);
        }

        Compress();
        return new WireLayout(null, ExtremeDecimals());
    }

    /// <summary>The fewest decimals that hold the extremes of every centroid of weight > 1 exactly, or <see cref="NotDecimal"/>.</summary>
    private byte ExtremeDecimals()
    {
        if (_spreads is null)
        {
            return 0;
        }

        if (_knownDecimals != UnknownDecimals)
        {
            // Extremes are values, so the decimals that hold every value hold them without a
            // look; fewer may do, which the first extreme that needs them all rules out at once.
            var known = _knownDecimals;
            while (known > 0 && ExtremesExactAt(known - 1))
            {
                known--;
            }

            return known;
        }

        for (byte decimals = 0; decimals <= MaxDecimals; decimals++)
        {
            if (ExtremesExactAt(decimals))
            {
                return decimals;
            }
        }

        return NotDecimal;
    }

    /// <summary>Whether <paramref name="decimals"/> hold the extremes of every centroid of weight > 1 exactly.</summary>
    private bool ExtremesExactAt(int decimals)
    {
        for (var i = 0; i < _centroidCount; i++)
        {
            ref readonly var spread = ref _spreads![i];
            if (spread.Weight != 1 && (!IsExactAt(spread.Min, decimals) || !IsExactAt(spread.Max, decimals)))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>At least what <see cref="Encode"/> writes: every varint at its longest.</summary>
    private int MaxSize(WireLayout layout) =>
        layout.DecimalForm is { } decimalForm
            ? 1 + 1 + 8 + 10 + 8 + decimalForm.Length
            : 1 + 1 + 8 + 10 + 24 + 10 + (_centroidCount * 40) + 1;

    /// <summary>Writes the digest as <paramref name="layout"/> says into a destination of at least <see cref="MaxSize"/> bytes.</summary>
    private int Encode(Span<byte> destination, WireLayout layout)
    {
        var decimalForm = layout.DecimalForm;
        destination[0] = FormatVersion;
        var flags = _mergeRightToLeft ? FlagMergeRightToLeft : 0;
        if (decimalForm is not null)
        {
            flags |= _compressed ? FlagDecimal : FlagDecimal | FlagUncompressed;
        }

        destination[1] = (byte)flags;
        BinaryPrimitives.WriteDoubleLittleEndian(destination[2..], Compression);
        var pos = 10;
        pos += WriteVarint(destination[pos..], (ulong)Count);
        if (Count == 0)
        {
            return pos;
        }

        if (decimalForm is not null)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(destination[pos..], _sum);
            decimalForm.CopyTo(destination[(pos + 8)..]);
            return pos + 8 + decimalForm.Length;
        }

        BinaryPrimitives.WriteDoubleLittleEndian(destination[pos..], _min);
        BinaryPrimitives.WriteDoubleLittleEndian(destination[(pos + 8)..], _max);
        BinaryPrimitives.WriteDoubleLittleEndian(destination[(pos + 16)..], _sum);
        pos += 24;
        pos += WriteVarint(destination[pos..], (ulong)_centroidCount);
        var previous = DigestSort.OrderKey(_min);
        long previousWeight = 0;
        for (var i = 0; i < _centroidCount; i++)
        {
            var key = DigestSort.OrderKey(_means[i]);
            var weight = (long)Weight(i);
            pos += WriteVarint(destination[pos..], unchecked((ulong)(key - previous)));
            pos += WriteVarint(destination[pos..], ZigZag(weight - previousWeight));
            previous = key;
            previousWeight = weight;
        }

        destination[pos++] = layout.ExtremeDecimals;
        var extremes = new ExtremeWriter(layout.ExtremeDecimals);
        for (var i = 0; i < _centroidCount; i++)
        {
            if (_spreads is not null && _spreads[i].Weight != 1)
            {
                var (first, second) = extremes.Next(_means[i], _spreads[i]);
                pos += WriteVarint(destination[pos..], first);
                pos += WriteVarint(destination[pos..], second);
            }
        }

        return pos;
    }

    /// <summary>The decimal form to write, or null for centroids, and the decimals of the centroids' extremes.</summary>
    private readonly record struct WireLayout(byte[]? DecimalForm, byte ExtremeDecimals);

    /// <summary>Turns each centroid's extremes into the two varints version 3 writes for them.</summary>
    private struct ExtremeWriter(byte decimals)
    {
        private long _previousMin;

        public (ulong First, ulong Second) Next(double mean, in Spread spread)
        {
            if (decimals == NotDecimal)
            {
                var key = DigestSort.OrderKey(mean);
                return (unchecked((ulong)(key - DigestSort.OrderKey(spread.Min))), unchecked((ulong)(DigestSort.OrderKey(spread.Max) - key)));
            }

            var scale = PowersOfTen[decimals];
            var min = (long)Math.Round(spread.Min * scale);
            var max = (long)Math.Round(spread.Max * scale);
            var step = ZigZag(min - _previousMin);
            _previousMin = min;
            return (step, (ulong)(max - min));
        }
    }

    private static ulong ZigZag(long value) => unchecked((ulong)((value << 1) ^ (value >> 63)));

    private static long UnZigZag(ulong value) => unchecked((long)(value >> 1) ^ -(long)(value & 1));

    private static int VarintSize(ulong value)
    {
        var size = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            size++;
        }

        return size;
    }

    internal static int WriteVarint(Span<byte> destination, ulong value)
    {
        var pos = 0;
        while (value >= 0x80)
        {
            destination[pos++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[pos++] = (byte)value;
        return pos;
    }

    private ref struct Reader(ReadOnlySpan<byte> source)
    {
        private readonly ReadOnlySpan<byte> _source = source;
        private int _pos;

        public readonly int Remaining => _source.Length - _pos;

        public byte Byte()
        {
            Need(1);
            return _source[_pos++];
        }

        public double Double()
        {
            Need(8);
            var value = BinaryPrimitives.ReadDoubleLittleEndian(_source[_pos..]);
            _pos += 8;
            return value;
        }

        public ulong Varint()
        {
            ulong value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                var b = Byte();
                if (shift == 63 && b > 1)
                {
                    throw new FormatException("Varint overflows 64 bits.");
                }

                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return value;
                }
            }

            throw new FormatException("Varint is longer than 10 bytes.");
        }

        public ReadOnlySpan<byte> Rest()
        {
            var rest = _source[_pos..];
            _pos = _source.Length;
            return rest;
        }

        public readonly void End()
        {
            if (_pos != _source.Length)
            {
                throw new FormatException($"{_source.Length - _pos} unexpected bytes after the t-digest.");
            }
        }

        private readonly void Need(int bytes)
        {
            if (_source.Length - _pos < bytes)
            {
                throw new FormatException("The t-digest is truncated.");
            }
        }
    }
}
