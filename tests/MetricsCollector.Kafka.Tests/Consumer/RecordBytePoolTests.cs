using Confluent.Kafka;
using MetricsCollector.Kafka.Consumer;

namespace MetricsCollector.Kafka.Tests.Consumer;

public sealed class RecordBytePoolTests
{
    private static byte[]? Copy(RecordBytePool pool, byte[]? data) =>
        pool.Deserialize(data, data is null, new SerializationContext(MessageComponentType.Value, "t"));

    [Fact]
    public void A_record_s_bytes_come_as_an_array_of_their_length_null_as_null()
    {
        var pool = new RecordBytePool();
        Assert.Null(Copy(pool, null));
        Assert.Empty(Copy(pool, [])!);
        Assert.Equal([1, 2, 3], Copy(pool, [1, 2, 3]));
    }

    [Fact]
    public void An_array_handed_back_is_filled_again_for_a_record_of_its_length_only()
    {
        var pool = new RecordBytePool();
        var first = Copy(pool, [1, 2, 3])!;
        pool.Return(first);

        var longer = Copy(pool, [9, 9, 9, 9]);
        var same = Copy(pool, [4, 5, 6]);

        Assert.NotSame(first, longer);
        Assert.Same(first, same);
        Assert.Equal([4, 5, 6], same);
        // Taken again: the next record of that length gets an array of its own.
        Assert.NotSame(same, Copy(pool, [7, 8, 9]));
    }

    [Fact]
    public void Arrays_handed_back_past_the_bound_are_not_kept()
    {
        var pool = new RecordBytePool(maxFree: 2);
        var arrays = Enumerable.Range(0, 3).Select(_ => Copy(pool, [1, 2])!).ToList();
        arrays.ForEach(pool.Return);

        var again = Enumerable.Range(0, 3).Select(_ => Copy(pool, [3, 4])!).ToList();

        Assert.Equal(2, again.Count(a => arrays.Contains(a)));
        // Taken out again: room for as many as were taken.
        again.ForEach(pool.Return);
        Assert.Equal(2, Enumerable.Range(0, 3).Select(_ => Copy(pool, [5, 6])!).Count(a => again.Contains(a)));
    }

    [Fact]
    public void A_raised_bound_keeps_more_and_a_lowered_one_drops_what_is_beyond_it()
    {
        var pool = new RecordBytePool(maxFree: 1);
        pool.KeepAtMost(3);
        var arrays = Enumerable.Range(0, 3).Select(_ => Copy(pool, [1, 2])!).Concat([Copy(pool, [1, 2, 3])!]).ToList();
        arrays.ForEach(pool.Return);
        Assert.Equal(3, Enumerable.Range(0, 3).Select(_ => Copy(pool, [1, 2])!).Count(a => arrays.Contains(a)));

        arrays.Take(3).ToList().ForEach(pool.Return);
        pool.KeepAtMost(1);
        Assert.Equal(1, pool.MaxFree);
        Assert.Equal(1, Enumerable.Range(0, 3).Select(_ => Copy(pool, [1, 2])!).Count(a => arrays.Contains(a)));
    }

    [Fact]
    public void A_long_record_s_array_is_not_kept()
    {
        var pool = new RecordBytePool();
        var long1 = Copy(pool, new byte[5_000])!;
        pool.Return(long1);
        Assert.NotSame(long1, Copy(pool, new byte[5_000]));
    }
}
