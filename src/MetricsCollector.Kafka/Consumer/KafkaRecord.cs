namespace MetricsCollector.Kafka.Consumer;

/// <summary>
/// One consumed record as the pipeline reads it: its offset in the partition, its timestamp, key and
/// value. A struct in its batch's array, so that a record costs no object of its own beyond its bytes
/// (Confluent.Kafka's <c>ConsumeResult</c> made four, about 240 bytes a record). A null value is a
/// tombstone.
/// </summary>
/// <param name="Timestamp">Epoch milliseconds of the record (create or log-append time), or <see cref="NoTimestamp"/>.</param>
public readonly record struct KafkaRecord(long Offset, long Timestamp, byte[]? Key, byte[]? Value)
{
    /// <summary>Kafka's own mark for a record without a timestamp (the protocol's -1).</summary>
    public const long NoTimestamp = -1;

    public bool HasTimestamp => Timestamp != NoTimestamp;
}
