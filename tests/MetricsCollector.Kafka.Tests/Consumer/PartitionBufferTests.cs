using Confluent.Kafka;
using MetricsCollector.Kafka.Consumer;

namespace MetricsCollector.Kafka.Tests.Consumer;

public sealed class PartitionBufferTests
{
    private static readonly TopicPartition Partition = new("t", 0);

    private static KafkaRecord Record(long offset) => new(offset, KafkaRecord.NoTimestamp, null, null);

    private static (PartitionBuffer.Take Take, List<long> Offsets, bool Resume) Take(PartitionBuffer buffer)
    {
        var take = buffer.TryTake(out var batch, out var resume, out _);
        return (take, batch?.Select(r => r.Offset).ToList() ?? [], resume);
    }

    [Fact]
    public void A_take_is_everything_buffered_in_order_up_to_the_batch_size()
    {
        var buffer = new PartitionBuffer(Partition, capacity: 100, new RecordBatch.Pool(7));
        for (var offset = 0; offset < 10; offset++) buffer.Add(Record(offset), out _);

        var first = Take(buffer);
        Assert.Equal(PartitionBuffer.Take.Batch, first.Take);
        Assert.Equal([0L, 1, 2, 3, 4, 5, 6], first.Offsets);
        var second = Take(buffer);
        Assert.Equal(PartitionBuffer.Take.Batch, second.Take);
        Assert.Equal([7L, 8, 9], second.Offsets);
        Assert.Equal(PartitionBuffer.Take.Empty, Take(buffer).Take);
    }

    [Fact]
    public void A_full_buffer_pauses_and_asks_to_resume_once_a_take_leaves_half()
    {
        var buffer = new PartitionBuffer(Partition, capacity: 10, new RecordBatch.Pool(3));
        var pauses = Enumerable.Range(0, 12).Count(offset => buffer.Add(Record(offset), out _));
        Assert.Equal(1, pauses);

        // 12 held: 9, then 6 (above half), then 3 (half or less) asks once.
        Assert.False(Take(buffer).Resume);
        Assert.False(Take(buffer).Resume);
        Assert.True(Take(buffer).Resume);
        Assert.False(Take(buffer).Resume);
    }

    [Fact]
    public void A_completed_buffer_drops_what_it_held_and_reports_its_failure()
    {
        var buffer = new PartitionBuffer(Partition, capacity: 10, new RecordBatch.Pool(3));
        buffer.Add(Record(0), out _);
        var failure = new KafkaException(ErrorCode.Local_Fatal);
        buffer.Complete(failure);

        Assert.Equal(PartitionBuffer.Take.Completed, buffer.TryTake(out var batch, out _, out var reported));
        Assert.Null(batch);
        Assert.Same(failure, reported);
    }
}
