using System.Text.Json;
using System.Text.Unicode;

namespace MetricsCollector.Core.Events;

/// <summary>
/// Decodes and validates one Kafka record value into a <see cref="CpuEvent"/>, or names the
/// <see cref="RejectReason"/> it is refused for. Only the value is read: the record key is not
/// the truth about the device, the value's <c>deviceId</c> is.
/// </summary>
/// <remarks>
/// <para>The reason is a function of the bytes alone. No bytes at all is <see cref="RejectReason.Empty"/>.
/// When a value breaks several rules, the first of these wins: <see cref="RejectReason.TooLarge"/> (the rest of an oversized value is
/// never looked at), <see cref="RejectReason.NotUtf8"/>, <see cref="RejectReason.NotJson"/>,
/// <see cref="RejectReason.NotAnObject"/>, then the first field error in document order
/// (<see cref="RejectReason.DuplicateField"/>, <see cref="RejectReason.WrongType"/>,
/// <see cref="RejectReason.OutOfRange"/>, <see cref="RejectReason.DeviceIdInvalid"/>), and last
/// <see cref="RejectReason.MissingField"/>.</para>
/// <para>Strict JSON (RFC 8259): no comments, no trailing commas, nesting at most 64 deep, one
/// value per record. Field names are case-sensitive; other fields, whatever their type, are
/// ignored. One leading UTF-8 byte order mark is skipped, as RFC 8259 §8.1 allows and as .NET's
/// own JSON parsers do; it counts toward the size limit.</para>
/// <para>A device id's length counts Unicode scalar values, so that an emoji is one character
/// whichever language the producer was written in. Control characters are Unicode category Cc
/// (U+0000–U+001F, U+007F–U+009F).</para>
/// <para>Records of the common shape (ASCII, no escapes, flat, short numbers: see
/// <see cref="CommonShapeReader"/>) are read by a hand-written scanner at a fraction of the
/// reader's cost; every other record, and every refused one, goes through
/// <see cref="Utf8JsonReader"/>, so the scanner never decides a reason.</para>
/// <para>A decoded known device id allocates nothing; malformed JSON costs an exception
/// (<see cref="Utf8JsonReader"/> has no other way to say so), a few microseconds.</para>
/// <para>Not thread-safe, because its <see cref="DeviceIdPool"/> is not: use one decoder, with its
/// own pool, per partition stream.</para>
/// </remarks>
public sealed class EventDecoder
{
    /// <summary>The default maximum record value size, in bytes.</summary>
    public const int DefaultMaxRecordBytes = 4096;

    /// <summary>The latest valid timestamp: 9999-12-31T23:59:59.999Z in epoch milliseconds.</summary>
    public const long MaxTimestamp = 253_402_300_799_999;

    // JSON escapes a scalar in at most 12 bytes (a \uXXXX\uXXXX pair): past this an id is too long without looking at it.
    private const int MaxDeviceIdEscapedBytes = DeviceIdRule.MaxLength * 12;

    private readonly DeviceIdPool _pool;

    /// <param name="pool">Where device ids are interned; a new pool of its own when null.</param>
    /// <param name="maxRecordBytes">Values longer than this are <see cref="RejectReason.TooLarge"/>.</param>
    public EventDecoder(DeviceIdPool? pool = null, int maxRecordBytes = DefaultMaxRecordBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRecordBytes);
        _pool = pool ?? new DeviceIdPool();
        MaxRecordBytes = maxRecordBytes;
    }

    /// <summary>Values longer than this many bytes are refused as <see cref="RejectReason.TooLarge"/>.</summary>
    public int MaxRecordBytes { get; }

    /// <summary>
    /// Decodes <paramref name="value"/>. On success <paramref name="reason"/> is
    /// <see cref="RejectReason.None"/>; on failure <paramref name="evt"/> is default. Never throws
    /// for any input.
    /// </summary>
    public bool TryDecode(ReadOnlySpan<byte> value, out CpuEvent evt, out RejectReason reason)
    {
        if (value.Length <= MaxRecordBytes
            && CommonShapeReader.TryRead(value, out ReadOnlySpan<byte> deviceId, out long timestamp, out double cpuUsage))
        {
            evt = new CpuEvent(_pool.GetOrAdd(deviceId), timestamp, cpuUsage);
            reason = RejectReason.None;
            return true;
        }

        return TryDecodeWithReader(value, out evt, out reason);
    }

    /// <summary>
    /// <see cref="TryDecode"/> without its fast path: every record through
    /// <see cref="Utf8JsonReader"/>. The reference the fast path is tested and measured against.
    /// </summary>
    internal bool TryDecodeWithReader(ReadOnlySpan<byte> value, out CpuEvent evt, out RejectReason reason)
    {
        if (value.IsEmpty)
        {
            reason = RejectReason.Empty;
        }
        else if (value.Length > MaxRecordBytes)
        {
            reason = RejectReason.TooLarge;
        }
        else if (!Utf8.IsValid(value))
        {
            // Checked up front: Utf8JsonReader does not validate bytes inside strings, and outside
            // them it would call invalid UTF-8 malformed JSON.
            reason = RejectReason.NotUtf8;
        }
        else
        {
            if (value.StartsWith("\uFEFF"u8))
            {
                value = value[3..];
            }

            try
            {
                reason = Parse(value, out evt);
                return reason == RejectReason.None;
            }
            catch (JsonException)
            {
                reason = RejectReason.NotJson;
            }
        }

        evt = default;
        return false;
    }

    private RejectReason Parse(ReadOnlySpan<byte> json, out CpuEvent evt)
    {
        evt = default;
        var reader = new Utf8JsonReader(json);
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return AtEnd(ref reader) ? RejectReason.NotAnObject : RejectReason.NotJson;
        }

        var firstError = RejectReason.None;
        var seen = Fields.None;
        ReadOnlySpan<byte> deviceIdBytes = default;
        int escapedDeviceIdStart = -1;
        long timestamp = 0;
        double cpuUsage = 0;

        // At depth one the reader yields property names until the closing brace.
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            Fields field =
                reader.ValueTextEquals("deviceId"u8) ? Fields.DeviceId
                : reader.ValueTextEquals("timestamp"u8) ? Fields.Timestamp
                : reader.ValueTextEquals("cpuUsage"u8) ? Fields.CpuUsage
                : Fields.None;
            if (field == Fields.None)
            {
                reader.Skip();
                continue;
            }

            reader.Read();
            RejectReason error = (seen & field) != 0 ? RejectReason.DuplicateField : field switch
            {
                Fields.DeviceId => ReadDeviceId(ref reader, ref deviceIdBytes, ref escapedDeviceIdStart),
                Fields.Timestamp => ReadTimestamp(ref reader, out timestamp),
                _ => ReadCpuUsage(ref reader, out cpuUsage),
            };

            // A container where a number or string belongs is a WrongType; step over it whole.
            reader.Skip();
            seen |= field;
            if (firstError == RejectReason.None)
            {
                firstError = error;
            }
        }

        if (!AtEnd(ref reader))
        {
            return RejectReason.NotJson;
        }

        if (firstError != RejectReason.None)
        {
            return firstError;
        }

        if (seen != Fields.All)
        {
            return RejectReason.MissingField;
        }

        // Interned only now, so that ids from refused records do not fill the pool.
        string deviceId = escapedDeviceIdStart < 0
            ? _pool.GetOrAdd(deviceIdBytes)
            : InternEscaped(json[escapedDeviceIdStart..]);
        evt = new CpuEvent(deviceId, timestamp, cpuUsage);
        return RejectReason.None;
    }

    // With isFinalBlock set the reader throws on trailing content rather than return true; the
    // check keeps the decoder correct whatever the reader's options.
    private static bool AtEnd(ref Utf8JsonReader reader) => !reader.Read();

    private static RejectReason ReadDeviceId(ref Utf8JsonReader reader, ref ReadOnlySpan<byte> bytes, ref int escapedStart)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            return RejectReason.WrongType;
        }

        if (!reader.ValueIsEscaped)
        {
            bytes = reader.ValueSpan;
            return DeviceIdRule.IsValid(bytes) ? RejectReason.None : RejectReason.DeviceIdInvalid;
        }

        escapedStart = checked((int)reader.TokenStartIndex);
        if (reader.ValueSpan.Length > MaxDeviceIdEscapedBytes)
        {
            return RejectReason.DeviceIdInvalid;
        }

        Span<byte> buffer = stackalloc byte[reader.ValueSpan.Length];
        return TryUnescape(ref reader, buffer, out int length) && DeviceIdRule.IsValid(buffer[..length])
            ? RejectReason.None
            : RejectReason.DeviceIdInvalid;
    }

    // Escaped ids are rare (producers escape only what they must), so they are unescaped a second
    // time here rather than carried out of the loop.
    private string InternEscaped(ReadOnlySpan<byte> fromStringToken)
    {
        var reader = new Utf8JsonReader(fromStringToken, isFinalBlock: false, state: default);
        reader.Read();
        Span<byte> buffer = stackalloc byte[reader.ValueSpan.Length];
        TryUnescape(ref reader, buffer, out int length);
        return _pool.GetOrAdd(buffer[..length]);
    }

    private static bool TryUnescape(ref Utf8JsonReader reader, scoped Span<byte> buffer, out int length)
    {
        try
        {
            length = reader.CopyString(buffer);
            return true;
        }
        catch (InvalidOperationException)
        {
            // An escaped unpaired surrogate ("\ud800") has no UTF-8 form: no string can name it.
            length = 0;
            return false;
        }
    }

    // JSON numbers are never escaped, so the raw bytes show how the timestamp was written.
    private static RejectReason ReadTimestamp(ref Utf8JsonReader reader, out long timestamp)
    {
        timestamp = 0;
        if (reader.TokenType != JsonTokenType.Number || reader.ValueSpan.IndexOfAny(".eE"u8) >= 0)
        {
            return RejectReason.WrongType;
        }

        return reader.TryGetInt64(out timestamp) && timestamp is >= 0 and <= MaxTimestamp
            ? RejectReason.None
            : RejectReason.OutOfRange;
    }

    private static RejectReason ReadCpuUsage(ref Utf8JsonReader reader, out double cpuUsage)
    {
        cpuUsage = 0;
        if (reader.TokenType != JsonTokenType.Number)
        {
            return RejectReason.WrongType;
        }

        // Overflowing literals such as 1e400 parse to infinity and fail the range test.
        if (!reader.TryGetDouble(out double parsed) || !(parsed is >= 0 and <= 100))
        {
            return RejectReason.OutOfRange;
        }

        // -0 becomes +0 so that min and max never print as "-0".
        cpuUsage = parsed == 0 ? 0 : parsed;
        return RejectReason.None;
    }

    [Flags]
    private enum Fields
    {
        None = 0,
        DeviceId = 1,
        Timestamp = 2,
        CpuUsage = 4,
        All = DeviceId | Timestamp | CpuUsage,
    }
}
