using Confluent.Kafka;

namespace MetricsCollector.Kafka;

/// <summary>
/// The side topics (dead-letter, too-late) as a partition sees them: where to put its records, what
/// an earlier owner already put there, and sending one. <see cref="KafkaSideOutput"/> is the real one.
/// </summary>
public interface ISideTopics
{
    Task<int> PartitionCountAsync(string topic);

    /// <summary>What <paramref name="partition"/> holds of <paramref name="sourcePartition"/>'s records from <paramref name="from"/> on (see <see cref="KafkaSideOutput.ReadBackAsync"/>).</summary>
    Task<SideReadBack> ReadBackAsync(TopicPartition partition, long? from, int sourcePartition, CancellationToken cancellationToken = default);

    /// <summary>Sends one record; completes with its offset in <paramref name="destination"/>, faults with a <see cref="KafkaException"/>.</summary>
    Task<long> SendAsync(TopicPartition destination, byte[]? key, byte[]? value, string reason, int sourcePartition, long sourceOffset, int? originalSize);
}
