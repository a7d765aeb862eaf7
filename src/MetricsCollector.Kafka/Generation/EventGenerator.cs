using System.Diagnostics;
using System.Globalization;
using System.Text;
using Confluent.Kafka;

namespace MetricsCollector.Kafka.Generation;

/// <summary>What a generator run delivered. <see cref="Failed"/> counts records the broker never acknowledged.</summary>
public sealed record GenerationReport(IReadOnlyDictionary<EventKind, long> Delivered, long Failed, TimeSpan Elapsed)
{
    public long Total => Delivered.Values.Sum();

    public double EventsPerSecond => Elapsed > TimeSpan.Zero ? Total / Elapsed.TotalSeconds : 0;

    public override string ToString()
    {
        var text = new StringBuilder();
        foreach (var (kind, count) in Delivered.Where(kv => kv.Value > 0))
        {
            text.Append(CultureInfo.InvariantCulture, $"{kind}={count} ");
        }

        return text.Append(CultureInfo.InvariantCulture, $"total={Total} failed={Failed} elapsed={Elapsed.TotalSeconds:0.00}s rate={EventsPerSecond:0}/s").ToString();
    }
}

/// <summary>
/// Sends an <see cref="EventPlan"/> to Kafka, keyed by device id, with the murmur2 partitioner
/// the original Java producers used, through an idempotent producer so that librdkafka's
/// retries never duplicate or reorder. Streams the plan: memory does not grow with its length.
/// </summary>
public static class EventGenerator
{
    public static Task<GenerationReport> RunAsync(
        EventPlan plan,
        string bootstrapServers,
        string topic = ProductTopics.Input,
        bool paced = false,
        CancellationToken cancellationToken = default) =>
        RunAsync(plan, new KafkaClients(bootstrapServers).Producer(), topic, paced, cancellationToken);

    /// <param name="paced">
    /// Send each event when the wall clock reaches its event-time clock (so event time follows
    /// the wall clock at the plan's rate); otherwise as fast as the broker takes them.
    /// </param>
    public static async Task<GenerationReport> RunAsync(
        EventPlan plan,
        ProducerConfig config,
        string topic = ProductTopics.Input,
        bool paced = false,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(config);
        var effective = new ProducerConfig(new Dictionary<string, string>(config))
        {
            EnableIdempotence = true,
            Partitioner = Partitioner.Murmur2Random,
        };
        effective.LingerMs ??= 5;

        var delivered = new long[Enum.GetValues<EventKind>().Length];
        long failed = 0;
        using var producer = new ProducerBuilder<byte[], byte[]>(effective).Build();
        var clock = Stopwatch.StartNew();
        try
        {
            foreach (var planned in plan)
            {
                if (paced && plan.ClockMs(planned.Sequence) - plan.StartMs - clock.ElapsedMilliseconds is var ahead and > 0)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(ahead), cancellationToken);
                }

                var kind = (int)planned.Kind;
                var message = new Message<byte[], byte[]> { Key = planned.Key, Value = planned.Value };
                while (true)
                {
                    try
                    {
                        producer.Produce(topic, message, report =>
                        {
                            if (report.Error.IsError)
                            {
                                Interlocked.Increment(ref failed);
                            }
                            else
                            {
                                Interlocked.Increment(ref delivered[kind]);
                            }
                        });
                        break;
                    }
                    catch (ProduceException<byte[], byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
                    {
                        // librdkafka's queue is the only buffer: wait for deliveries instead of growing one of our own.
                        await Task.Delay(1, cancellationToken);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping early still flushes and reports what was sent.
        }

        var undelivered = producer.Flush(TimeSpan.FromSeconds(30));
        clock.Stop();
        return new GenerationReport(
            Enum.GetValues<EventKind>().ToDictionary(k => k, k => Interlocked.Read(ref delivered[(int)k])),
            Interlocked.Read(ref failed) + undelivered,
            clock.Elapsed);
    }
}
