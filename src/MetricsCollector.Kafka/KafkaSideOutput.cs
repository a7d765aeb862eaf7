using System.Text;
using Confluent.Kafka;

namespace MetricsCollector.Kafka;

/// <summary>
/// Producer for the side topics (dead-letter, too-late): the original key and value bytes, plus
/// headers such as <c>reason</c>. Idempotent with acks=all, so librdkafka's retries after a broker
/// outage neither duplicate nor reorder; a caller commits its input only after the returned task
/// completes, so nothing is lost either. Thread-safe.
/// </summary>
public sealed class KafkaSideOutput : IDisposable
{
    public const string ReasonHeader = "reason";

    private readonly IProducer<byte[]?, byte[]?> _producer;

    public KafkaSideOutput(ProducerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var effective = new ProducerConfig(new Dictionary<string, string>(config))
        {
            EnableIdempotence = true,
            Acks = Acks.All,
        };
        effective.Partitioner ??= Partitioner.Murmur2Random;
        _producer = new ProducerBuilder<byte[]?, byte[]?>(effective).Build();
    }

    /// <summary>Completes once the broker has the record; faults if it cannot be delivered within <c>message.timeout.ms</c>.</summary>
    public Task<DeliveryResult<byte[]?, byte[]?>> ProduceAsync(
        string topic,
        byte[]? key,
        byte[]? value,
        string reason,
        IEnumerable<KeyValuePair<string, string>>? extraHeaders = null,
        CancellationToken cancellationToken = default)
    {
        var headers = new Headers { { ReasonHeader, Encoding.UTF8.GetBytes(reason) } };
        foreach (var (name, headerValue) in extraHeaders ?? [])
        {
            headers.Add(name, Encoding.UTF8.GetBytes(headerValue));
        }

        return _producer.ProduceAsync(topic, new Message<byte[]?, byte[]?> { Key = key, Value = value, Headers = headers }, cancellationToken);
    }

    /// <summary>Waits until every record handed over so far is delivered; returns how many are still in flight.</summary>
    public int Flush(TimeSpan timeout) => _producer.Flush(timeout);

    public void Dispose()
    {
        _producer.Flush(TimeSpan.FromSeconds(10));
        _producer.Dispose();
    }
}
