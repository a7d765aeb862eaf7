using Confluent.Kafka;
using Confluent.Kafka.Admin;

namespace MetricsCollector.Kafka;

/// <summary>
/// What the broker says about a topic as it is now: how many partitions it has, where each
/// partition's log starts and ends, and the topic's id where the broker reports one. Nothing about a
/// topic is assumed from configuration. Thread-safe; one per node.
/// </summary>
public sealed class TopicInspector : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly IConsumer<Ignore, Ignore> _consumer;
    private readonly IAdminClient _admin;
    private bool _topicIdsUnsupported;

    /// <param name="config">A consumer configuration (bootstrap servers, security); it never joins a group.</param>
    /// <param name="reportsTopicIds">
    /// False for a broker known not to answer DescribeTopics (librdkafka's mock broker has no
    /// controller, and the request would only time out).
    /// </param>
    public TopicInspector(ConsumerConfig config, bool reportsTopicIds = true)
    {
        var effective = new ConsumerConfig(new Dictionary<string, string>(config))
        {
            GroupId = config.GroupId ?? "metrics-collector-inspector",
            EnableAutoCommit = false,
        };
        _consumer = new ConsumerBuilder<Ignore, Ignore>(effective).Build();
        _admin = new DependentAdminClientBuilder(_consumer.Handle).Build();
        _topicIdsUnsupported = !reportsTopicIds;
    }

    /// <summary>The topic's partition count; 0 when the topic does not exist (deleted, or not created yet).</summary>
    public int PartitionCount(string topic)
    {
        var metadata = _admin.GetMetadata(topic, Timeout).Topics.SingleOrDefault(t => t.Topic == topic);
        if (metadata is null || metadata.Error.Code == ErrorCode.UnknownTopicOrPart) return 0;
        if (metadata.Error.IsError) throw new KafkaException(metadata.Error);
        return metadata.Partitions.Count;
    }

    /// <summary>Where the partition's log starts (the oldest offset retained) and ends (the next offset to be written).</summary>
    public (long Start, long End) LogRange(TopicPartition partition)
    {
        var offsets = _consumer.QueryWatermarkOffsets(partition, Timeout);
        return (offsets.Low.Value, offsets.High.Value);
    }

    /// <summary>
    /// The topic's id, or null when the broker does not report ids: then a replaced log can only be
    /// told by its offsets. Asked once of a broker that cannot answer, never again.
    /// </summary>
    public async Task<string?> TopicIdAsync(string topic)
    {
        if (_topicIdsUnsupported) return null;
        try
        {
            var described = await _admin.DescribeTopicsAsync(TopicCollection.OfTopicNames([topic]), new DescribeTopicsOptions { RequestTimeout = Timeout });
            var id = described.TopicDescriptions.Single().TopicId;
            return id is null ? null : id.ToString();
        }
        catch (DescribeTopicsException e) when (e.Results.TopicDescriptions.Any(d => d.Error.Code == ErrorCode.UnknownTopicOrPart))
        {
            return null;
        }
        catch (KafkaException)
        {
            _topicIdsUnsupported = true;
            return null;
        }
    }

    public void Dispose()
    {
        _admin.Dispose();
        _consumer.Dispose();
    }
}
