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
/// <see cref="MaxFree"/> free arrays. Its consumer sets that to what its partitions' buffers hold when full
/// (<see cref="KeepAtMost"/>): a buffer fills to its bound, pauses, drains to half and fills again, and the
/// arrays it gives back while draining are the ones it asks for while filling. With a bound below that,
/// the arrays of draining buffers were dropped and those of filling ones made anew: 100,000 free arrays for
/// ten partitions of 20,000 records made four of every ten arrays new. What it keeps after a catch-up is
/// no more than the buffers held at their fullest.
/// </para>
/// </summary>
public sealed class RecordBytePool(int maxFree = 100_000) : IDeserializer<byte[]?>
{
    // A record's JSON is about 120 bytes; longer ones are rare enough to allocate.
    private const int MaxPooledLength = 1024;

    private readonly ConcurrentQueue<byte[]>?[] _free = new ConcurrentQueue<byte[]>?[MaxPooledLength + 1];
    private int _freeCount;
    private int _maxFree = maxFree;

    public int MaxFree => Volatile.Read(ref _maxFree);

    /// <summary>Any thread: keep at most <paramref name="maxFree"/> free arrays from now on, dropping any beyond it.</summary>
    public void KeepAtMost(int maxFree)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxFree);
        Volatile.Write(ref _maxFree, maxFree);
        for (var length = 1; length <= MaxPooledLength && Volatile.Read(ref _freeCount) > maxFree; length++)
        {
            while (Volatile.Read(ref _freeCount) > maxFree && Volatile.Read(ref _free[length]) is { } free && free.TryDequeue(out _))
            {
                Interlocked.Decrement(ref _freeCount);
            }
        }
    }

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
        if (Interlocked.Increment(ref _freeCount) > Volatile.Read(ref _maxFree))
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
