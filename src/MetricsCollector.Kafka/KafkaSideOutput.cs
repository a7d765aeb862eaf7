using System.Globalization;
using System.Text;
using Confluent.Kafka;

namespace MetricsCollector.Kafka;

/// <summary>
/// Producer for the side topics (dead-letter, too-late): the original key and value bytes, a
/// <c>reason</c> header, and the source partition and offset the record came from. Idempotent with
/// acks=all, so librdkafka's retries after a broker outage neither duplicate nor reorder; a caller
/// commits its input only after the returned task completes, so nothing is lost either.
/// The caller picks the side partition, so that one source partition's side records sit in one
/// place and <see cref="ReadBackAsync"/> can tell, after a crash, which of them are already there.
/// Thread-safe.
/// </summary>
public sealed class KafkaSideOutput : ISideTopics, IDisposable
{
    public const string ReasonHeader = "reason";
    public const string SourcePartitionHeader = "source-partition";
    public const string SourceOffsetHeader = "source-offset";
    public const string TruncatedHeader = "truncated";
    public const string OriginalSizeHeader = "original-size";

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly IProducer<byte[]?, byte[]?> _producer;
    private readonly KafkaClients _clients;

    public KafkaSideOutput(KafkaClients clients)
    {
        ArgumentNullException.ThrowIfNull(clients);
        var config = clients.Producer();
        config.EnableIdempotence = true;
        config.Acks = Acks.All;
        config.LingerMs ??= 5;
        _clients = clients;
        _producer = new ProducerBuilder<byte[]?, byte[]?>(config).Build();
    }

    /// <summary>
    /// Completes once the broker has the record; faults if it cannot be delivered within <c>message.timeout.ms</c>.
    /// A value cut to fit the topic says so: <c>truncated: true</c> and its <c>original-size</c> in bytes.
    /// </summary>
    public Task<DeliveryResult<byte[]?, byte[]?>> ProduceAsync(
        TopicPartition destination,
        byte[]? key,
        byte[]? value,
        string reason,
        int sourcePartition,
        long sourceOffset,
        int? originalSize = null,
        CancellationToken cancellationToken = default)
    {
        var headers = new Headers
        {
            { ReasonHeader, Encoding.UTF8.GetBytes(reason) },
            { SourcePartitionHeader, Encoding.UTF8.GetBytes(sourcePartition.ToString(CultureInfo.InvariantCulture)) },
            { SourceOffsetHeader, Encoding.UTF8.GetBytes(sourceOffset.ToString(CultureInfo.InvariantCulture)) },
        };
        if (originalSize is { } size)
        {
            headers.Add(TruncatedHeader, "true"u8.ToArray());
            headers.Add(OriginalSizeHeader, Encoding.UTF8.GetBytes(size.ToString(CultureInfo.InvariantCulture)));
        }
        return _producer.ProduceAsync(destination, new Message<byte[]?, byte[]?> { Key = key, Value = value, Headers = headers }, cancellationToken);
    }

    public async Task<long> SendAsync(TopicPartition destination, byte[]? key, byte[]? value, string reason, int sourcePartition, long sourceOffset, int? originalSize) =>
        (await ProduceAsync(destination, key, value, reason, sourcePartition, sourceOffset, originalSize)).Offset.Value;

    public Task<int> PartitionCountAsync(string topic) => Task.Run(() =>
    {
        using var admin = new DependentAdminClientBuilder(_producer.Handle).Build();
        var metadata = admin.GetMetadata(topic, Timeout).Topics.Single();
        if (metadata.Error.IsError) throw new KafkaException(metadata.Error);
        return metadata.Partitions.Count;
    });

    /// <summary>
    /// Reads <paramref name="partition"/> from <paramref name="from"/> to its current end and
    /// collects the records that came from <paramref name="sourcePartition"/> (other source
    /// partitions may share it). Without <paramref name="from"/> it only tells the end.
    /// Assigns, never joins a group or commits: a short-lived look, once per partition start.
    /// </summary>
    public Task<SideReadBack> ReadBackAsync(TopicPartition partition, long? from, int sourcePartition, CancellationToken cancellationToken = default) =>
        Task.Run(() =>
        {
            using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig(_clients.Consumer("metrics-collector-side-read-back"))
            {
                EnableAutoCommit = false,
                // A mark below what retention kept: whatever is left is all there is.
                AutoOffsetReset = AutoOffsetReset.Earliest,
            }).Build();
            var end = consumer.QueryWatermarkOffsets(partition, Timeout).High.Value;
            var found = new Dictionary<long, long>();
            if (from is not { } start || start >= end) return new SideReadBack(end, found);

            consumer.Assign(new TopicPartitionOffset(partition, start));
            var deadline = DateTime.UtcNow + Timeout;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var record = consumer.Consume(TimeSpan.FromMilliseconds(100));
                if (record is not null)
                {
                    var offset = record.Offset.Value;
                    if (Header(record.Message.Headers, SourcePartitionHeader) == sourcePartition
                        && Header(record.Message.Headers, SourceOffsetHeader) is { } source)
                        found[source] = found.TryGetValue(source, out var seen) ? Math.Min(seen, offset) : offset;
                    if (offset >= end - 1) break;
                }
                else if (consumer.Position(partition).Value >= end) break;
                else if (DateTime.UtcNow > deadline)
                    throw new KafkaException(new Error(ErrorCode.Local_TimedOut, $"reading {partition} back to offset {end} took over {Timeout}"));
            }
            return new SideReadBack(end, found);
        }, cancellationToken);

    /// <summary>Waits until every record handed over so far is delivered; returns how many are still in flight.</summary>
    public int Flush(TimeSpan timeout) => _producer.Flush(timeout);

    public void Dispose()
    {
        _producer.Flush(TimeSpan.FromSeconds(10));
        _producer.Dispose();
    }

    private static long? Header(Headers headers, string name) =>
        headers.TryGetLastBytes(name, out var bytes)
        && long.TryParse(Encoding.UTF8.GetString(bytes), NumberStyles.None, CultureInfo.InvariantCulture, out var value)
            ? value
            : null;
}
