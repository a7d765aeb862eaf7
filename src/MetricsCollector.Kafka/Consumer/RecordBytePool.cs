using System.Collections.Concurrent;
using Confluent.Kafka;

namespace MetricsCollector.Kafka.Consumer;

/// <summary>
/// Keys and values of consumed records in arrays used again: Confluent.Kafka's own deserializer makes
/// two new arrays a record, about an eighth of what the node allocated per event. Arrays keep their
/// exact length (downstream reads a value as its whole array), so free ones are kept by length.
/// <para>
/// Whoever is done with a record may hand its arrays back (<see cref="Return"/>), once and only when
/// nothing holds them any more; one never handed back is simply collected. The pool keeps at most
/// <paramref name="maxFree"/> free arrays: after a catch-up the partitions' full buffers come back
/// all at once (20,000 records each by default), and keeping them all would hold that peak for good.
/// </para>
/// </summary>
public sealed class RecordBytePool(int maxFree = 100_000) : IDeserializer<byte[]?>
{
    // A record's JSON is about 120 bytes; longer ones are rare enough to allocate.
    private const int MaxPooledLength = 1024;

    private readonly ConcurrentQueue<byte[]>?[] _free = new ConcurrentQueue<byte[]>?[MaxPooledLength + 1];
    private int _freeCount;

    /// <summary>Consumer thread: the record's bytes in an array of their length.</summary>
    public byte[]? Deserialize(ReadOnlySpan<byte> data, bool isNull, SerializationContext context)
    {
        if (isNull) return null;
        if (data.IsEmpty) return [];
        var array = data.Length <= MaxPooledLength && Volatile.Read(ref _free[data.Length]) is { } free && free.TryDequeue(out var reused)
            ? Taken(reused)
            : new byte[data.Length];
        data.CopyTo(array);
        return array;
    }

    /// <summary>Any thread: <paramref name="array"/>, which came from <see cref="Deserialize"/>, is free to fill again.</summary>
    public void Return(byte[]? array)
    {
        if (array is not { Length: > 0 and <= MaxPooledLength }) return;
        if (Interlocked.Increment(ref _freeCount) > maxFree)
        {
            Interlocked.Decrement(ref _freeCount);
            return;
        }

        var free = Volatile.Read(ref _free[array.Length]);
        if (free is null)
        {
            Interlocked.CompareExchange(ref _free[array.Length], new ConcurrentQueue<byte[]>(), null);
            free = _free[array.Length]!;
        }

        free.Enqueue(array);
    }

    private byte[] Taken(byte[] array)
    {
        Interlocked.Decrement(ref _freeCount);
        return array;
    }
}
