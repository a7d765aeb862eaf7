using System.Collections.Concurrent;
using Confluent.Kafka;

namespace MetricsCollector.Kafka.Consumer;

/// <summary>
/// Keys and values of consumed records in arrays used again: Confluent.Kafka's own deserializer makes
/// two new arrays a record, about an eighth of what the node allocated per event. Arrays keep their
/// exact length (downstream reads a value as its whole array), so free ones are kept by length.
/// <para>
/// Whoever is done with a record may hand its arrays back (<see cref="Return"/>), once and only when
/// nothing holds them any more; one never handed back is simply collected. The pool holds at most
/// as many arrays as were ever out at once.
/// </para>
/// </summary>
public sealed class RecordBytePool : IDeserializer<byte[]?>
{
    // A record's JSON is about 120 bytes; longer ones are rare enough to allocate.
    private const int MaxPooledLength = 1024;

    private readonly ConcurrentQueue<byte[]>?[] _free = new ConcurrentQueue<byte[]>?[MaxPooledLength + 1];

    /// <summary>Consumer thread: the record's bytes in an array of their length.</summary>
    public byte[]? Deserialize(ReadOnlySpan<byte> data, bool isNull, SerializationContext context)
    {
        if (isNull) return null;
        if (data.IsEmpty) return [];
        var array = data.Length <= MaxPooledLength && Volatile.Read(ref _free[data.Length]) is { } free && free.TryDequeue(out var reused)
            ? reused
            : new byte[data.Length];
        data.CopyTo(array);
        return array;
    }

    /// <summary>Any thread: <paramref name="array"/>, which came from <see cref="Deserialize"/>, is free to fill again.</summary>
    public void Return(byte[]? array)
    {
        if (array is not { Length: > 0 and <= MaxPooledLength }) return;
        var free = Volatile.Read(ref _free[array.Length]);
        if (free is null)
        {
            Interlocked.CompareExchange(ref _free[array.Length], new ConcurrentQueue<byte[]>(), null);
            free = _free[array.Length]!;
        }

        free.Enqueue(array);
    }
}
