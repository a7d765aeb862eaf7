using System.Buffers;

namespace MetricsCollector.Core.Digests;

// The decimal form: idle panes of readings of a few decimals, kept as the values themselves (see Memory in TDigest.cs).
public sealed partial class TDigest
{
    // Compact keeps up to this many times δ values of weight 1 as they are (in decimal form)
    // rather than merged to δ: at two or three bytes a value, 2·δ values take less memory than
    // the ~δ/2 centroids of 16 bytes (mean and weight) they would merge into, and a window
    // built from them sees the values themselves.
    private const int RawPointsFactor = 2;

    // Decimal form: values that are n / 10^d for some d ≤ MaxDecimals and |n| ≤ 2^53. Six places
    // keep the steps of values in [0, 100] within three bytes; finer values gain little over
    // eight-byte doubles.
    private const int MaxDecimals = 6;
    private const double MaxExactInteger = 9_007_199_254_740_992;

    // _knownDecimals when nothing is known: the decimals are found by looking at the values.
    private const byte UnknownDecimals = 0xFE;
    private static readonly double[] PowersOfTen = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000];

    /// <summary>
    /// Moves all values (centroids and buffer) into decimal form if every one weighs 1, there
    /// are at most <c>RawPointsFactor·δ</c> of them and they fit; whether the digest is now in
    /// decimal form. Keeps the buffer's array for further values.
    /// </summary>
    private bool TryPack()
    {
        if (_packed is not null && _bufferCount == 0)
        {
            return true;
        }

        var count = Count;
        if (count == 0 || count > RawPointsFactor * Compression || _centroidWeight != _centroidCount || _bufferWeight != _bufferCount)
        {
            return false;
        }

        var rented = ArrayPool<double>.Shared.Rent((int)count);
        byte[]? packed;
        try
        {
            var points = rented.AsSpan(0, (int)count);
            if (_packed is not null)
            {
                Unpack(_packed, points[.._centroidCount]);
            }
            else
            {
                _means.AsSpan(0, _centroidCount).CopyTo(points);
            }

            _bufferValues.AsSpan(0, _bufferCount).CopyTo(points[_centroidCount..]);
            points.Sort();
            packed = Pack(points);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(rented);
        }

        if (packed is null)
        {
            return false;
        }

        _compressed &= _bufferCount == 0;
        _packed = packed;
        // A digest that is reused for one window's row after another (see MergeAllInto) and
        // written in this form keeps its arrays for the next window; Compact drops them.
        _spareMeans = _means.Length > 0 ? _means : _spareMeans;
        _spareSpreads = _spreads ?? _spareSpreads;
        _means = [];
        _spreads = null;
        _centroidCount = (int)count;
        _centroidWeight = count;
        _bufferCount = 0;
        _bufferWeight = 0;
        return true;
    }

    /// <summary>
    /// The decimal form of ascending values: the fewest decimals d (at most MaxDecimals) that
    /// hold every value exactly, then the values in units of 10^−d, the first zigzag-encoded and
    /// the rest as steps from their predecessor; null for no values or when one does not fit.
    /// </summary>
    private static byte[]? Pack(ReadOnlySpan<double> sorted)
    {
        if (sorted.IsEmpty)
        {
            return null;
        }

        // A value exact at d decimals is exact at every larger d (10·n / 10^(d+1) rounds the
        // same real number), so d only ever has to grow.
        var decimals = 0;
        foreach (var x in sorted)
        {
            while (!IsExactAt(x, decimals))
            {
                if (++decimals > MaxDecimals)
                {
                    return null;
                }
            }
        }

        // Rounding and scaling are monotonic, so ascending values give non-negative steps.
        var scale = PowersOfTen[decimals];
        var first = (long)Math.Round(sorted[0] * scale);
        var size = 1 + VarintSize(ZigZag(first));
        var previous = first;
        for (var i = 1; i < sorted.Length; i++)
        {
            var n = (long)Math.Round(sorted[i] * scale);
            size += VarintSize((ulong)(n - previous));
            previous = n;
        }

        var packed = new byte[size];
        packed[0] = (byte)decimals;
        var pos = 1 + WriteVarint(packed.AsSpan(1), ZigZag(first));
        previous = first;
        for (var i = 1; i < sorted.Length; i++)
        {
            var n = (long)Math.Round(sorted[i] * scale);
            pos += WriteVarint(packed.AsSpan(pos), (ulong)(n - previous));
            previous = n;
        }

        return packed;
    }

    /// <summary>
    /// Whether <paramref name="x"/> is n / 10^d for an integer n a double holds exactly: the
    /// division is correctly rounded, so it then gives back x bit for bit.
    /// </summary>
    private static bool IsExactAt(double x, int decimals)
    {
        var scale = PowersOfTen[decimals];
        var n = Math.Round(x * scale);
        return Math.Abs(n) <= MaxExactInteger && n / scale == x;
    }

    /// <summary>Writes the first <c>destination.Length</c> values of a decimal form written by <see cref="Pack"/>.</summary>
    private static void Unpack(ReadOnlySpan<byte> packed, Span<double> destination)
    {
        var scale = PowersOfTen[packed[0]];
        var pos = 1;
        var n = UnZigZag(ReadVarint(packed, ref pos));
        destination[0] = n / scale;
        for (var i = 1; i < destination.Length; i++)
        {
            n += (long)ReadVarint(packed, ref pos);
            destination[i] = n / scale;
        }
    }

    /// <summary>
    /// Checks that <paramref name="packed"/> is a decimal form of exactly <paramref name="count"/>
    /// values that doubles hold exactly, and returns the first and last: the digest's min and max.
    /// </summary>
    private static void CheckDecimalForm(ReadOnlySpan<byte> packed, ulong count, out double min, out double max)
    {
        // Each value takes at least one byte: checking this first keeps a corrupt count from
        // allocating gigabytes.
        if (packed.Length < 2 || count > (ulong)(packed.Length - 1))
        {
            throw new FormatException("The decimal form is truncated.");
        }

        var reader = new Reader(packed);
        var decimals = reader.Byte();
        if (decimals > MaxDecimals)
        {
            throw new FormatException($"A decimal form has at most {MaxDecimals} decimals, not {decimals}.");
        }

        const long limit = (long)MaxExactInteger;
        var n = UnZigZag(reader.Varint());
        if (n < -limit || n > limit)
        {
            throw new FormatException("A value of the decimal form is out of range.");
        }

        var scale = PowersOfTen[decimals];
        min = n / scale;
        for (ulong i = 1; i < count; i++)
        {
            var step = reader.Varint();
            if (step > (ulong)(limit - n))
            {
                throw new FormatException("A value of the decimal form is out of range.");
            }

            n += (long)step;
        }

        reader.End();
        max = n / scale;
    }

    /// <summary>
    /// The decimals of digests that all hold their values in decimal form, and nothing else (a
    /// window of idle panes): the most any of them needs holds every value of their merge
    /// exactly. <see cref="UnknownDecimals"/> as soon as one holds anything else.
    /// </summary>
    private static byte DecimalsOfPacked(ReadOnlySpan<MergeInput> inputs)
    {
        byte decimals = 0;
        foreach (var input in inputs)
        {
            if (input.Digest is not { } digest)
            {
                decimals = Math.Max(decimals, input.Run.Form.Span[0]);
                continue;
            }

            if (digest.Count == 0)
            {
                continue;
            }

            if (digest._packed is not { } packed || digest._bufferCount > 0)
            {
                return UnknownDecimals;
            }

            decimals = Math.Max(decimals, packed[0]);
        }

        return decimals;
    }

    /// <summary>
    /// The decimal form of a digest that holds nothing else (compacted, no values since), and what
    /// a digest rebuilt from it by <see cref="FromDecimalForm"/> needs to evolve like this one; false
    /// when the digest is in any other state.
    /// </summary>
    internal bool TryGetDecimalForm(out DecimalRun run, out bool mergeRightToLeft, out bool compressed)
    {
        mergeRightToLeft = _mergeRightToLeft;
        compressed = _compressed;
        if (_packed is null || _bufferCount > 0 || _bufferValues.Length > 0 || _spareMeans is not null)
        {
            run = default;
            return false;
        }

        run = new DecimalRun(_packed, _centroidCount, _sum);
        return true;
    }

    /// <summary>
    /// The digest <see cref="TryGetDecimalForm"/> described, in the very state it was in: the same
    /// answers, and the same evolution under further values.
    /// </summary>
    internal static TDigest FromDecimalForm(double compression, DecimalRun run, bool mergeRightToLeft, bool compressed)
    {
        var form = run.Form.Span;
        var digest = new TDigest(compression)
        {
            _packed = form.ToArray(),
            _centroidCount = run.Count,
            _centroidWeight = run.Count,
            _sum = run.Sum,
            _mergeRightToLeft = mergeRightToLeft,
            _compressed = compressed,
        };
        CheckDecimalForm(form, (ulong)run.Count, out digest._min, out digest._max);
        return digest;
    }

    /// <summary>Turns the decimal form back into the array of means that queries and merges work on.</summary>
    private void Unpack()
    {
        if (_packed is null)
        {
            return;
        }

        var means = new double[_centroidCount];
        Unpack(_packed, means);
        _means = means;
        _packed = null;
    }

    // A varint this core wrote (a decimal form, a pane set's idle entries) or FromBytes checked: no bounds to check.
    internal static ulong ReadVarint(ReadOnlySpan<byte> source, ref int pos)
    {
        ulong value = 0;
        var shift = 0;
        byte b;
        do
        {
            b = source[pos++];
            value |= (ulong)(b & 0x7F) << shift;
            shift += 7;
        }
        while (b >= 0x80);

        return value;
    }

}

/// <summary>
/// A digest's values in decimal form (see Memory in TDigest.cs) without the digest: sorted values of
/// weight 1, <paramref name="Count"/> of them, whose running sum in the order they were added is
/// <paramref name="Sum"/>. What an idle pane shrinks to when it is kept inside a larger array.
/// </summary>
internal readonly record struct DecimalRun(ReadOnlyMemory<byte> Form, int Count, double Sum);

/// <summary>One input of <see cref="TDigest.MergeAllInto(ReadOnlySpan{MergeInput}, TDigest)"/>: a digest, or an idle pane's decimal run.</summary>
internal readonly struct MergeInput
{
    public MergeInput(TDigest digest) => Digest = digest;

    public MergeInput(DecimalRun run) => Run = run;

    /// <summary>The digest, or null for a <see cref="Run"/>.</summary>
    public TDigest? Digest { get; }

    public DecimalRun Run { get; }
}
