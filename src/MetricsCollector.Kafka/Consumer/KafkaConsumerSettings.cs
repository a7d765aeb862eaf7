using Confluent.Kafka;

namespace MetricsCollector.Kafka.Consumer;

/// <summary>
/// Where newly assigned partitions start. Partitions missing from the answer start at their
/// committed offset, or at the earliest retained offset when the group has none.
/// Runs on the consumer thread while the group waits, so keep it short.
/// </summary>
public delegate Task<IReadOnlyDictionary<TopicPartition, long>> StartOffsetsProvider(
    IReadOnlyList<TopicPartition> partitions, CancellationToken cancellationToken);

/// <summary>
/// Runs after the partitions' substreams have completed and before the partitions are handed
/// to another member: the place to flush and <see cref="IConsumerControl.Commit"/>. When
/// <paramref name="lost"/> is true the group has already moved on (session timeout) and commits
/// for these partitions are dropped. Cancelled after <see cref="KafkaConsumerSettings.RevocationTimeout"/>.
/// </summary>
public delegate Task PartitionsRevokedHandler(
    IReadOnlyList<TopicPartition> partitions, bool lost, CancellationToken cancellationToken);

/// <summary>
/// The broker no longer has the offset a partition was to be read from (its log was replaced, or
/// retention deleted it) and <c>auto.offset.reset</c> is <c>error</c>: the partition stops fetching
/// until it is reopened (<see cref="IConsumerControl.Reopen"/>). Runs on the consumer thread: keep it short.
/// </summary>
public delegate void OffsetOutOfRangeHandler(TopicPartition partition, long offset);

public sealed record KafkaConsumerSettings
{
    /// <summary>
    /// Bootstrap servers, group id and any tuning. Offset handling is forced to manual
    /// (no auto commit, no auto offset store); <c>auto.offset.reset</c> defaults to earliest.
    /// </summary>
    public required ConsumerConfig Config { get; init; }

    public required IReadOnlyList<string> Topics { get; init; }

    /// <summary>
    /// Records held per partition before its fetching is paused; resumed at half. A pause makes
    /// librdkafka drop what it prefetched for the partition (up to <c>max.partition.fetch.bytes</c>,
    /// about 15,000 small records) and fetch it again on resume, so this should exceed one fetch
    /// for a consumer that keeps up; it matters only when downstream is slower than Kafka.
    /// </summary>
    public int PartitionBufferSize { get; init; } = 20_000;

    /// <summary>
    /// Records handed on at a time: a partition's substream emits at most this many of its buffered
    /// records as one element, and the consumer thread takes at most this many from librdkafka
    /// before it wakes the substreams that got some.
    /// </summary>
    public int BatchSize { get; init; } = 500;

    /// <summary>Longest wait for a record; also bounds how late a commit or resume request is served.</summary>
    public TimeSpan PollTimeout { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Requested commits are coalesced per partition and sent at most this often.</summary>
    public TimeSpan CommitInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Bound on <see cref="OnRevoked"/>: the group's rebalance waits for it.</summary>
    public TimeSpan RevocationTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Bound on <see cref="StartOffsets"/>; exceeding it fails the stream.</summary>
    public TimeSpan StartOffsetsTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public StartOffsetsProvider? StartOffsets { get; init; }

    public PartitionsRevokedHandler? OnRevoked { get; init; }

    public OffsetOutOfRangeHandler? OnOffsetOutOfRange { get; init; }

    /// <summary>
    /// Runs on the consumer thread once each assignment the group hands this member has been
    /// taken, an empty one included: from then on the member takes part in the group.
    /// </summary>
    public Action<IReadOnlyList<TopicPartition>>? OnAssigned { get; init; }

    /// <summary>Where keys and values are copied to; none: new arrays every record.</summary>
    public RecordBytePool? RecordBytes { get; init; }

    internal ConsumerConfig EffectiveConfig()
    {
        var config = new ConsumerConfig(new Dictionary<string, string>(Config));
        config.EnableAutoCommit = false;
        config.EnableAutoOffsetStore = false;
        config.AutoOffsetReset ??= AutoOffsetReset.Earliest;
        // Only the timestamp of each record's optional parts is read downstream. Confluent.Kafka
        // builds the rest for every record: the topic's name as a new string and a list of headers,
        // about 110 bytes a record. The topic is needed only to tell topics apart.
        if (config.Get("dotnet.consumer.consume.result.fields") is null) config.ConsumeResultFields = Topics.Count == 1 ? "timestamp" : "topic,timestamp";
        return config;
    }
}
