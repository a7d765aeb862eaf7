using System.Buffers;
using System.Text;

namespace MetricsCollector.Core.Events;

/// <summary>
/// What a device id may be: 1 to <see cref="MaxLength"/> Unicode scalar values (an emoji is one), no
/// control character (C0, DEL, C1). The decoder applies it to the input's bytes, the API to the ids it is
/// asked for, so any id the pipeline accepts can be asked for and no other.
/// </summary>
public static class DeviceIdRule
{
    /// <summary>The most Unicode scalar values a device id may hold.</summary>
    public const int MaxLength = 128;

    /// <summary>UTF-8 takes at most 4 bytes per scalar: past this an id is too long without looking at it.</summary>
    public const int MaxUtf8Bytes = MaxLength * 4;

    /// <summary>Whether <paramref name="utf8"/>, known to be valid UTF-8, is a device id.</summary>
    public static bool IsValid(ReadOnlySpan<byte> utf8)
    {
        if (utf8.IsEmpty || utf8.Length > MaxUtf8Bytes)
        {
            return false;
        }

        int scalars = 0;
        for (int i = 0; i < utf8.Length; i++)
        {
            byte b = utf8[i];
            bool c0OrDelete = b < 0x20 || b == 0x7F;

            // U+0080–U+009F encode as C2 80 to C2 9F.
            bool c1 = b == 0xC2 && utf8[i + 1] < 0xA0;
            if (c0OrDelete || c1)
            {
                return false;
            }

            // Every byte that is not a continuation byte (10xxxxxx) starts one scalar value.
            if ((b & 0xC0) != 0x80)
            {
                scalars++;
            }
        }

        return scalars <= MaxLength;
    }

    /// <summary>Why <paramref name="deviceId"/> is not a device id, or null when it is one.</summary>
    public static string? Problem(string deviceId)
    {
        ArgumentNullException.ThrowIfNull(deviceId);
        var rest = deviceId.AsSpan();
        var scalars = 0;
        while (!rest.IsEmpty)
        {
            if (Rune.DecodeFromUtf16(rest, out var rune, out var used) != OperationStatus.Done || Rune.IsControl(rune))
            {
                return "deviceId must not contain control characters or unpaired surrogates.";
            }

            scalars++;
            rest = rest[used..];
        }

        return scalars is 0 or > MaxLength ? $"deviceId must have 1 to {MaxLength} characters, got {scalars}." : null;
    }
}
