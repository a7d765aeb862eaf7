using Confluent.Kafka;

namespace MetricsCollector.Kafka.Consumer;

/// <summary>Materialized value of <see cref="KafkaSource.CommittablePartitioned"/>; every member is thread-safe.</summary>
public interface IConsumerControl
{
    /// <summary>
    /// Asks for <paramref name="nextOffset"/> (the offset of the next record to read, i.e. last
    /// processed + 1) to be committed. Requests are coalesced (the latest per partition wins) and
    /// sent from the consumer thread;
    /// a request for a partition this member no longer owns is dropped. Whoever is assigned the
    /// partition next starts there, unless its <see cref="StartOffsetsProvider"/> says otherwise.
    /// </summary>
    void Commit(TopicPartition partition, long nextOffset);

    /// <summary>
    /// Stops fetching, completes every substream (records not yet emitted are left for the next
    /// owner), runs the revocation handler, commits what was requested, and leaves the group at
    /// once so the others rebalance without waiting for a session timeout.
    /// </summary>
    Task StopAsync();

    /// <summary>
    /// Stops fetching, waits up to <paramref name="timeout"/> until every record already fetched
    /// has been emitted downstream, then does what <see cref="StopAsync"/> does.
    /// </summary>
    Task DrainAndShutdownAsync(TimeSpan timeout);

    /// <summary>
    /// The partition's end offset as last reported by the broker in a fetch (librdkafka's cached
    /// high watermark), or null when unknown. Lets a partition tell "nothing to read" from
    /// "records waiting while paused": only the first makes it idle.
    /// </summary>
    long? HighWatermark(TopicPartition partition);

    /// <summary>
    /// Reads an assigned partition again from <paramref name="offset"/>: its current substream completes,
    /// and a new one, starting there, is emitted as if the partition had just been assigned. For a
    /// partition whose reader failed, or whose log changed under it. Ignored for a partition not
    /// assigned to this member.
    /// </summary>
    void Reopen(TopicPartition partition, long offset);

    /// <summary>Completes when the consumer has closed; faults with the error that failed the stream.</summary>
    Task Completion { get; }
}
