using System.Buffers.Binary;
using System.Buffers.Text;

namespace MetricsCollector.ReadSide;

/// <summary>
/// Where a history page stopped: the next page holds rows whose window end is before <see cref="Before"/>.
/// Keyset pagination, not OFFSET: a page costs the same however deep it is, and rows written between
/// two requests neither repeat nor vanish from the pages that follow.
/// Clients see it as an opaque token; the version byte lets its content change later without
/// misreading tokens handed out by an older node.
/// </summary>
public readonly record struct HistoryCursor(long Before)
{
    private const byte Version = 1;
    private const int Length = 1 + sizeof(long);

    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[Length];
        bytes[0] = Version;
        BinaryPrimitives.WriteInt64BigEndian(bytes[1..], Before);
        return Base64Url.EncodeToString(bytes);
    }

    public static bool TryParse(string? token, out HistoryCursor cursor)
    {
        cursor = default;
        // IsValid first: TryDecodeFromChars throws, rather than returning false, on characters outside the alphabet.
        Span<byte> bytes = stackalloc byte[Length];
        if (string.IsNullOrEmpty(token)
            || !Base64Url.IsValid(token, out var length)
            || length != Length
            || !Base64Url.TryDecodeFromChars(token, bytes, out _)
            || bytes[0] != Version)
        {
            return false;
        }

        cursor = new HistoryCursor(BinaryPrimitives.ReadInt64BigEndian(bytes[1..]));
        return true;
    }
}
