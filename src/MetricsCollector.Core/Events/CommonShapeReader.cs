using System.Buffers;

namespace MetricsCollector.Core.Events;

/// <summary>
/// Reads the record shape producers actually send, a flat object such as
/// <c>{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986}</c>, without a JSON
/// reader. It only ever accepts: anything it is not sure of, valid or not, it declines, and
/// <see cref="EventDecoder"/> hands the record to <see cref="System.Text.Json.Utf8JsonReader"/>.
/// </summary>
/// <remarks>
/// <para>Accepting is a promise that the reader path would decode the same event, so every rule
/// here is a subset of that path's: ASCII only (so the value is valid UTF-8 and no BOM),
/// strings without escapes, unknown fields with scalar values only, each known field once,
/// a timestamp of plain digits within range, a non-negative cpuUsage without exponent.</para>
/// <para>cpuUsage is converted only when the digits, read as an integer m with k decimals, give
/// m ≤ 2^53 and k ≤ 22: then m and 10^k are exact doubles and one IEEE division rounds m / 10^k
/// correctly (Clinger's fast path), the same double <c>double.Parse</c> returns. Longer numbers
/// are declined rather than rounded by hand.</para>
/// </remarks>
internal static class CommonShapeReader
{
    private const int DeviceId = 1;
    private const int Timestamp = 2;
    private const int CpuUsage = 4;
    private const int AllFields = DeviceId | Timestamp | CpuUsage;

    private const ulong MaxExactMantissa = 1UL << 53;

    // MaxTimestamp has 15 digits: a longer timestamp is out of range, which the reader path reports.
    private const int MaxTimestampDigits = 15;

    // Printable ASCII but the quote and backslash: the bytes a string may hold with no escape to
    // decode and no UTF-8 to validate. DEL (0x7F) is valid JSON but a control character.
    private static readonly SearchValues<byte> PlainStringBytes = SearchValues.Create(
        [.. Enumerable.Range(0x20, 0x7F - 0x20 + 1).Select(b => (byte)b).Where(b => b is not (byte)'"' and not (byte)'\\')]);

    private static readonly SearchValues<byte> PlainDeviceIdBytes = SearchValues.Create(
        [.. Enumerable.Range(0x20, 0x7E - 0x20 + 1).Select(b => (byte)b).Where(b => b is not (byte)'"' and not (byte)'\\')]);

    // An array, not a span property over constant data: until the JIT optimises the caller, each
    // read of such a span allocates, and the decoder promises zero allocation from the first call.
    private static readonly double[] PowersOfTen =
    [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];

    /// <summary>
    /// True when <paramref name="json"/> is a record of the common shape, with its three fields
    /// valid; <paramref name="deviceId"/> is then the id's UTF-8 bytes, inside <paramref name="json"/>.
    /// False says nothing about the record but that the reader path must decide.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> json, out ReadOnlySpan<byte> deviceId, out long timestamp, out double cpuUsage)
    {
        deviceId = default;
        timestamp = 0;
        cpuUsage = 0;
        int i = SkipWhitespace(json, 0);
        if (!At(json, i, (byte)'{'))
        {
            return false;
        }

        int seen = 0;
        i = SkipWhitespace(json, i + 1);
        while (true)
        {
            if (!TryReadPlainString(json, ref i, PlainStringBytes, out ReadOnlySpan<byte> name))
            {
                return false;
            }

            i = SkipWhitespace(json, i);
            if (!At(json, i, (byte)':'))
            {
                return false;
            }

            i = SkipWhitespace(json, i + 1);
            int field = FieldOf(name);
            if ((seen & field) != 0)
            {
                return false;
            }

            seen |= field;
            bool read = field switch
            {
                DeviceId => TryReadDeviceId(json, ref i, out deviceId),
                Timestamp => TryReadTimestamp(json, ref i, out timestamp),
                CpuUsage => TryReadCpuUsage(json, ref i, out cpuUsage),
                _ => TrySkipScalar(json, ref i),
            };
            if (!read)
            {
                return false;
            }

            // Every value ends here, so a number or literal running into anything else ("01",
            // "1.5.3", "truex") is declined by this one test.
            i = SkipWhitespace(json, i);
            if (At(json, i, (byte)','))
            {
                i = SkipWhitespace(json, i + 1);
            }
            else if (At(json, i, (byte)'}'))
            {
                return seen == AllFields && SkipWhitespace(json, i + 1) == json.Length;
            }
            else
            {
                return false;
            }
        }
    }

    private static bool At(ReadOnlySpan<byte> json, int i, byte expected) => (uint)i < (uint)json.Length && json[i] == expected;

    private static int SkipWhitespace(ReadOnlySpan<byte> json, int i)
    {
        while ((uint)i < (uint)json.Length && json[i] is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t')
        {
            i++;
        }

        return i;
    }

    private static int FieldOf(ReadOnlySpan<byte> name) => name.Length switch
    {
        8 when name.SequenceEqual("deviceId"u8) => DeviceId,
        8 when name.SequenceEqual("cpuUsage"u8) => CpuUsage,
        9 when name.SequenceEqual("timestamp"u8) => Timestamp,
        _ => 0,
    };

    private static bool TryReadPlainString(ReadOnlySpan<byte> json, scoped ref int i, SearchValues<byte> allowed, out ReadOnlySpan<byte> value)
    {
        value = default;
        if (!At(json, i, (byte)'"'))
        {
            return false;
        }

        ReadOnlySpan<byte> rest = json[(i + 1)..];
        int length = rest.IndexOfAnyExcept(allowed);
        if (length < 0 || rest[length] != '"')
        {
            return false;
        }

        value = rest[..length];
        i += length + 2;
        return true;
    }

    // ASCII without control characters, so bytes are scalar values and the length test is direct.
    private static bool TryReadDeviceId(ReadOnlySpan<byte> json, scoped ref int i, out ReadOnlySpan<byte> deviceId) =>
        TryReadPlainString(json, ref i, PlainDeviceIdBytes, out deviceId)
        && deviceId.Length is > 0 and <= DeviceIdRule.MaxLength;

    private static bool TryReadTimestamp(ReadOnlySpan<byte> json, scoped ref int i, out long timestamp)
    {
        timestamp = 0;
        int start = i;
        long value = 0;
        while ((uint)i < (uint)json.Length && IsDigit(json[i]) && i - start < MaxTimestampDigits)
        {
            value = (value * 10) + (json[i] - '0');
            i++;
        }

        // A leading zero before more digits is not JSON; more than 15 digits is out of range.
        bool plain = i > start && !(json[start] == '0' && i - start > 1) && !((uint)i < (uint)json.Length && IsDigit(json[i]));
        if (!plain || value > EventDecoder.MaxTimestamp)
        {
            return false;
        }

        timestamp = value;
        return true;
    }

    private static bool TryReadCpuUsage(ReadOnlySpan<byte> json, scoped ref int i, out double cpuUsage)
    {
        cpuUsage = 0;
        ulong mantissa = 0;
        int decimals = 0;
        if (At(json, i, (byte)'0'))
        {
            i++;
        }
        else if ((uint)i < (uint)json.Length && json[i] is >= (byte)'1' and <= (byte)'9')
        {
            if (!TryAccumulate(json, ref i, ref mantissa, out _))
            {
                return false;
            }
        }
        else
        {
            return false;
        }

        if (At(json, i, (byte)'.'))
        {
            i++;
            if (!TryAccumulate(json, ref i, ref mantissa, out decimals) || decimals == 0 || decimals >= PowersOfTen.Length)
            {
                return false;
            }
        }

        double value = mantissa / PowersOfTen[decimals];
        if (value > 100)
        {
            return false;
        }

        cpuUsage = value;
        return true;
    }

    // Stops with false once the mantissa is past 2^53: no digit count to track, and no overflow,
    // since 10 × 2^53 + 9 is far below 2^64.
    private static bool TryAccumulate(ReadOnlySpan<byte> json, scoped ref int i, ref ulong mantissa, out int digits)
    {
        int start = i;
        while ((uint)i < (uint)json.Length && IsDigit(json[i]))
        {
            mantissa = (mantissa * 10) + (uint)(json[i] - '0');
            if (mantissa > MaxExactMantissa)
            {
                digits = 0;
                return false;
            }

            i++;
        }

        digits = i - start;
        return true;
    }

    private static bool TrySkipScalar(ReadOnlySpan<byte> json, scoped ref int i)
    {
        if ((uint)i >= (uint)json.Length)
        {
            return false;
        }

        switch (json[i])
        {
            case (byte)'"':
                return TryReadPlainString(json, ref i, PlainStringBytes, out _);
            case (byte)'t':
                return TrySkipLiteral(json, ref i, "true"u8);
            case (byte)'f':
                return TrySkipLiteral(json, ref i, "false"u8);
            case (byte)'n':
                return TrySkipLiteral(json, ref i, "null"u8);
            default:
                return TrySkipNumber(json, ref i);
        }
    }

    private static bool TrySkipLiteral(ReadOnlySpan<byte> json, scoped ref int i, ReadOnlySpan<byte> literal)
    {
        if (!json[i..].StartsWith(literal))
        {
            return false;
        }

        i += literal.Length;
        return true;
    }

    // RFC 8259 §6: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    private static bool TrySkipNumber(ReadOnlySpan<byte> json, scoped ref int i)
    {
        if (At(json, i, (byte)'-'))
        {
            i++;
        }

        if (At(json, i, (byte)'0'))
        {
            i++;
        }
        else if (SkipDigits(json, ref i) == 0)
        {
            return false;
        }

        if (At(json, i, (byte)'.'))
        {
            i++;
            if (SkipDigits(json, ref i) == 0)
            {
                return false;
            }
        }

        if (At(json, i, (byte)'e') || At(json, i, (byte)'E'))
        {
            i++;
            if (At(json, i, (byte)'+') || At(json, i, (byte)'-'))
            {
                i++;
            }

            if (SkipDigits(json, ref i) == 0)
            {
                return false;
            }
        }

        return true;
    }

    private static int SkipDigits(ReadOnlySpan<byte> json, scoped ref int i)
    {
        int start = i;
        while ((uint)i < (uint)json.Length && IsDigit(json[i]))
        {
            i++;
        }

        return i - start;
    }

    private static bool IsDigit(byte b) => (uint)(b - '0') <= 9;
}
