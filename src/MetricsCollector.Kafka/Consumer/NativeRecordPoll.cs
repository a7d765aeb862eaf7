using System.Reflection;
using System.Runtime.InteropServices;
using Confluent.Kafka;

namespace MetricsCollector.Kafka.Consumer;

/// <summary>
/// Takes records off a Confluent.Kafka consumer's queue by librdkafka's own poll, reading each message
/// in place. Confluent's <c>Consume</c> makes four objects a record (the native message marshalled into
/// a boxed copy, a <c>TopicPartitionOffset</c>, a <c>Message</c> and the <c>ConsumeResult</c>): about a
/// third of all the node allocated per event. This calls the same C function <c>Consume</c> calls, on the
/// same handle and the same thread, so librdkafka serves the same callbacks (rebalances, errors, logs)
/// through Confluent's handlers, and positions move as they would.
/// <para>
/// What only <c>Consume</c> does is rethrow an exception a rebalance left behind in Confluent (an
/// assignment that failed); the loop therefore still takes the first record of every batch through it.
/// The handle is internal to Confluent.Kafka and reached by reflection; where that or binding to the
/// loaded library fails (another Confluent version, not Linux), there is no native poll and the loop
/// takes every record through <c>Consume</c>.
/// </para>
/// </summary>
internal sealed unsafe class NativeRecordPoll
{
    private readonly SafeHandle _handle;
    private readonly RecordBytePool? _bytes;
    private readonly bool _readTopic;

    private NativeRecordPoll(SafeHandle handle, RecordBytePool? bytes, bool readTopic)
    {
        _handle = handle;
        _bytes = bytes;
        _readTopic = readTopic;
    }

    /// <summary>A poll over <paramref name="consumer"/>'s handle, or null with the reason there is none.</summary>
    public static NativeRecordPoll? TryCreate(IConsumer<byte[]?, byte[]?> consumer, RecordBytePool? bytes, bool readTopic, out string? whyNot)
    {
        whyNot = null;
        if (!LoadedLibrdkafka.CanBind)
        {
            whyNot = "the loaded librdkafka cannot be bound on this platform";
            return null;
        }

        var property = typeof(Handle).GetProperty("LibrdkafkaHandle", BindingFlags.Instance | BindingFlags.NonPublic);
        if (property?.GetValue(consumer.Handle) is not SafeHandle { IsInvalid: false } handle)
        {
            whyNot = $"Confluent.Kafka {typeof(Handle).Assembly.GetName().Version} has no librdkafka handle where this build looks for it";
            return null;
        }

        LoadedLibrdkafka.EnsureResolver();
        return new NativeRecordPoll(handle, bytes, readTopic);
    }

    /// <summary>
    /// The next record already fetched, without waiting: false when there is none. A consume error
    /// (offset out of range, a broker's error for the partition) comes back as <see cref="Polled.Error"/>.
    /// </summary>
    public bool TryPoll(out Polled polled)
    {
        // The handle is not counted up: the loop that owns this poll disposes the consumer only after its last poll.
        var message = rd_kafka_consumer_poll(_handle.DangerousGetHandle(), 0);
        if (message == IntPtr.Zero)
        {
            polled = default;
            return false;
        }

        try
        {
            ref readonly var m = ref *(Message*)message;
            var topic = _readTopic && m.Topic != IntPtr.Zero ? Marshal.PtrToStringUTF8(rd_kafka_topic_name(m.Topic)) : null;
            if (m.Error != 0)
            {
                var code = (ErrorCode)m.Error;
                // A consumer's error message carries librdkafka's text for it as its payload.
                var reason = m.Payload != IntPtr.Zero && m.Length > 0
                    ? Marshal.PtrToStringUTF8(m.Payload, (int)m.Length)
                    : new Error(code).Reason;
                polled = new Polled(topic, m.Partition, new KafkaRecord(m.Offset, KafkaRecord.NoTimestamp, null, null),
                    new Error(code, reason, isFatal: code == ErrorCode.Local_Fatal));
                return true;
            }

            var timestamp = rd_kafka_message_timestamp(message, out var type);
            polled = new Polled(
                topic,
                m.Partition,
                new KafkaRecord(m.Offset, type == 0 ? KafkaRecord.NoTimestamp : timestamp, Bytes(m.Key, m.KeyLength), Bytes(m.Payload, m.Length)),
                null);
            return true;
        }
        finally
        {
            rd_kafka_message_destroy(message);
        }
    }

    private byte[]? Bytes(IntPtr data, nuint length)
    {
        if (data == IntPtr.Zero) return null;
        var span = new ReadOnlySpan<byte>((void*)data, checked((int)length));
        return _bytes is { } pool ? pool.Deserialize(span, isNull: false, default) : span.ToArray();
    }

    /// <summary>One polled record with its partition (and topic, when the consumer reads several), or a consume error.</summary>
    internal readonly record struct Polled(string? Topic, int Partition, KafkaRecord Record, Error? Error);

    /// <summary>librdkafka's <c>rd_kafka_message_t</c> (rdkafka.h), read where it lies.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private readonly struct Message
    {
        public readonly int Error;
        public readonly IntPtr Topic;
        public readonly int Partition;
        public readonly IntPtr Payload;
        public readonly nuint Length;
        public readonly IntPtr Key;
        public readonly nuint KeyLength;
        public readonly long Offset;
        public readonly IntPtr Private;
    }

    [DllImport(LoadedLibrdkafka.Lib)]
    private static extern IntPtr rd_kafka_consumer_poll(IntPtr rk, int timeoutMs);

    [DllImport(LoadedLibrdkafka.Lib)]
    private static extern long rd_kafka_message_timestamp(IntPtr message, out int type);

    [DllImport(LoadedLibrdkafka.Lib)]
    private static extern void rd_kafka_message_destroy(IntPtr message);

    [DllImport(LoadedLibrdkafka.Lib)]
    private static extern IntPtr rd_kafka_topic_name(IntPtr topic);
}
