using Confluent.Kafka;

namespace MetricsCollector.Kafka.Consumer;

/// <summary>Materialized value of <see cref="KafkaSource.CommittablePartitioned"/>; every member is thread-safe.</summary>
public interface IConsumerControl
{
    /// <summary>
    /// Asks for <paramref name="nextOffset"/> (the offset of the next record to read, i.e. last
    /// processed + 1) to be committed. Requests are coalesced and sent from the consumer thread;
    /// a request for a partition this member no longer owns is dropped.
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

    /// <summary>Completes when the consumer has closed; faults with the error that failed the stream.</summary>
    Task Completion { get; }
}
