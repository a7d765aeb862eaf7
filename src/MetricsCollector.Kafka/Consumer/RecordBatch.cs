using System.Collections;
using System.Collections.Concurrent;

namespace MetricsCollector.Kafka.Consumer;

/// <summary>
/// One partition's records as its substream emits them: a run of <see cref="KafkaRecord"/>s in an array
/// that the consumer fills again once the batch's one reader has <see cref="Release"/>d it. Before, each
/// batch was a new array, 32 bytes a record: the largest allocation the consumer still made per record.
/// A batch never released is simply collected; one read after its release would show another batch's
/// records, so only its reader releases it, once, when nothing holds it any more.
/// </summary>
public sealed class RecordBatch : IReadOnlyList<KafkaRecord>
{
    private readonly KafkaRecord[] _records;
    private readonly ConcurrentQueue<RecordBatch>? _free;

    /// <summary>A batch of exactly <paramref name="records"/>, not used again.</summary>
    public RecordBatch(KafkaRecord[] records)
        : this(records, null)
    {
        Count = records.Length;
    }

    private RecordBatch(KafkaRecord[] records, ConcurrentQueue<RecordBatch>? free)
    {
        _records = records;
        _free = free;
    }

    public int Count { get; private set; }

    public ReadOnlySpan<KafkaRecord> Records => _records.AsSpan(0, Count);

    public KafkaRecord this[int index] => (uint)index < (uint)Count ? _records[index] : throw new ArgumentOutOfRangeException(nameof(index));

    /// <summary>The reader is done with these records: the array may be filled again.</summary>
    public void Release()
    {
        if (_free is null) return;
        // Keys and values of records already handed on must not be kept alive by a free array.
        Array.Clear(_records, 0, Count);
        Count = 0;
        _free.Enqueue(this);
    }

    /// <summary>Filling side: appends a record; the pool's batches have room for the batch size.</summary>
    internal void Add(in KafkaRecord record) => _records[Count++] = record;

    public IEnumerator<KafkaRecord> GetEnumerator()
    {
        for (var i = 0; i < Count; i++) yield return _records[i];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>
    /// Batches of one consumer, each able to hold <paramref name="capacity"/> records. It keeps every batch
    /// released: at most one batch a partition is out at a time (the next waits for the reader's
    /// acknowledgement), and a batch is not released before it is acknowledged.
    /// </summary>
    internal sealed class Pool(int capacity)
    {
        private readonly ConcurrentQueue<RecordBatch> _free = new();

        public int Capacity => capacity;

        /// <summary>An empty batch to fill, with room for <c>capacity</c> records.</summary>
        public RecordBatch Take() => _free.TryDequeue(out var batch) ? batch : new RecordBatch(new KafkaRecord[capacity], _free);
    }
}
