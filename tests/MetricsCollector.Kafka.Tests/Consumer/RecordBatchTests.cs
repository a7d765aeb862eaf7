using MetricsCollector.Kafka.Consumer;

namespace MetricsCollector.Kafka.Tests.Consumer;

public sealed class RecordBatchTests
{
    private static KafkaRecord Record(long offset) => new(offset, 1_000 + offset, [1], [(byte)offset]);

    [Fact]
    public void A_released_batch_is_filled_again_and_shows_only_its_new_records()
    {
        var pool = new RecordBatch.Pool(4);
        var first = pool.Take();
        for (var offset = 0; offset < 4; offset++) first.Add(Record(offset));
        first.Release();

        var second = pool.Take();
        Assert.Same(first, second);
        Assert.Empty(second);
        second.Add(Record(10));
        Assert.Equal([10L], second.Select(r => r.Offset));
        Assert.Throws<ArgumentOutOfRangeException>(() => second[1]);
    }

    [Fact]
    public void A_batch_not_released_is_never_handed_out_twice()
    {
        var pool = new RecordBatch.Pool(2);
        var held = pool.Take();
        held.Add(Record(0));

        var other = pool.Take();
        Assert.NotSame(held, other);
        Assert.Equal([0L], held.Select(r => r.Offset));
    }

    [Fact]
    public void A_batch_made_from_an_array_holds_it_whole_and_is_not_kept_after_release()
    {
        var batch = new RecordBatch([Record(5), Record(6)]);
        Assert.Equal([5L, 6L], batch.Records.ToArray().Select(r => r.Offset));
        batch.Release();
        Assert.Equal(2, batch.Count);
    }
}
