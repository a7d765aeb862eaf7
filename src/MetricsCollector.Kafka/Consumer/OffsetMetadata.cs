using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using Confluent.Kafka;
using static MetricsCollector.Kafka.MockClusterNative;

namespace MetricsCollector.Kafka.Consumer;

/// <summary>
/// Commits and reads offsets together with their metadata string. Confluent.Kafka 2.16's
/// <see cref="TopicPartitionOffset"/> has no metadata (confluent-kafka-dotnet#2112, open), while
/// librdkafka and the Kafka protocol do, so this goes to librdkafka directly with the consumer's
/// own handle: same group generation, same member id. Only from the consumer's thread.
/// </summary>
internal static class OffsetMetadata
{
    // rd_kafka_topic_partition_t on 64-bit: topic*, int32 partition, int64 offset, void* metadata,
    // size_t metadata_size, void* opaque, int err, void* _private. Stable since librdkafka 0.9.
    private const int OffsetField = 16;
    private const int MetadataField = 24;
    private const int MetadataSizeField = 32;
    private const int ErrField = 48;

    private static readonly PropertyInfo s_nativeHandle =
        typeof(Handle).GetProperty("LibrdkafkaHandle", BindingFlags.Instance | BindingFlags.NonPublic)
        ?? throw new PlatformNotSupportedException("This Confluent.Kafka has no Handle.LibrdkafkaHandle; commit metadata needs 2.16's internals.");

    static OffsetMetadata()
    {
        if (IntPtr.Size != 8)
        {
            throw new PlatformNotSupportedException("Commit metadata is implemented for 64-bit processes only.");
        }

        EnsureResolver();
    }

    /// <summary>Synchronous commit; throws <see cref="KafkaException"/> with the first error.</summary>
    public static void Commit(IClient consumer, IEnumerable<(TopicPartition Partition, long Offset, string? Metadata)> offsets)
    {
        var rk = Native(consumer);
        var list = rd_kafka_topic_partition_list_new(8);
        try
        {
            foreach (var (partition, offset, metadata) in offsets)
            {
                var element = rd_kafka_topic_partition_list_add(list, partition.Topic, partition.Partition.Value);
                Marshal.WriteInt64(element, OffsetField, offset);
                if (metadata is not null)
                {
                    var bytes = Encoding.UTF8.GetBytes(metadata);
                    // Allocated by librdkafka so that list_destroy frees it with the matching allocator.
                    var memory = rd_kafka_mem_malloc(rk, (UIntPtr)Math.Max(1, bytes.Length));
                    Marshal.Copy(bytes, 0, memory, bytes.Length);
                    Marshal.WriteIntPtr(element, MetadataField, memory);
                    Marshal.WriteIntPtr(element, MetadataSizeField, bytes.Length);
                }
            }

            Throw(rd_kafka_commit(rk, list, 0));
            ForEach(list, element => Throw(Marshal.ReadInt32(element, ErrField)));
        }
        finally
        {
            rd_kafka_topic_partition_list_destroy(list);
        }
    }

    /// <summary>The group's committed offset and metadata per partition; a partition without a commit is absent.</summary>
    public static Dictionary<TopicPartition, (long Offset, string? Metadata)> Committed(
        IClient consumer, IEnumerable<TopicPartition> partitions, TimeSpan timeout)
    {
        var rk = Native(consumer);
        var list = rd_kafka_topic_partition_list_new(8);
        try
        {
            foreach (var partition in partitions)
            {
                rd_kafka_topic_partition_list_add(list, partition.Topic, partition.Partition.Value);
            }

            Throw(rd_kafka_committed(rk, list, (int)timeout.TotalMilliseconds));
            var committed = new Dictionary<TopicPartition, (long, string?)>();
            ForEach(list, element =>
            {
                Throw(Marshal.ReadInt32(element, ErrField));
                var offset = Marshal.ReadInt64(element, OffsetField);
                if (offset < 0)
                {
                    return;
                }

                var topic = Marshal.PtrToStringUTF8(Marshal.ReadIntPtr(element))!;
                var partition = Marshal.ReadInt32(element, 8);
                var metadata = Marshal.ReadIntPtr(element, MetadataField);
                var size = (int)Marshal.ReadIntPtr(element, MetadataSizeField);
                committed[new TopicPartition(topic, partition)] =
                    (offset, metadata == IntPtr.Zero ? null : Marshal.PtrToStringUTF8(metadata, size));
            });
            return committed;
        }
        finally
        {
            rd_kafka_topic_partition_list_destroy(list);
        }
    }

    internal static IntPtr Native(IClient consumer) =>
        ((SafeHandle)s_nativeHandle.GetValue(consumer.Handle)!).DangerousGetHandle();

    private static void ForEach(IntPtr list, Action<IntPtr> action)
    {
        // rd_kafka_topic_partition_list_t: int cnt, int size, rd_kafka_topic_partition_t* elems.
        var count = Marshal.ReadInt32(list);
        var elements = Marshal.ReadIntPtr(list, 8);
        for (var i = 0; i < count; i++)
        {
            action(elements + (i * 64));
        }
    }

    private static void Throw(int err)
    {
        if (err != 0)
        {
            throw new KafkaException((ErrorCode)err);
        }
    }

    [DllImport(Lib)]
    private static extern IntPtr rd_kafka_topic_partition_list_new(int size);

    [DllImport(Lib)]
    private static extern IntPtr rd_kafka_topic_partition_list_add(
        IntPtr list, [MarshalAs(UnmanagedType.LPUTF8Str)] string topic, int partition);

    [DllImport(Lib)]
    private static extern void rd_kafka_topic_partition_list_destroy(IntPtr list);

    [DllImport(Lib)]
    private static extern IntPtr rd_kafka_mem_malloc(IntPtr rk, UIntPtr size);

    [DllImport(Lib)]
    private static extern int rd_kafka_commit(IntPtr rk, IntPtr offsets, int async);

    [DllImport(Lib)]
    private static extern int rd_kafka_committed(IntPtr rk, IntPtr partitions, int timeoutMs);
}
