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

    public static Task<GenerationReport> RunAsync(
        EventPlan plan,
        ProducerConfig config,
        string topic = ProductTopics.Input,
        bool paced = false,
        CancellationToken cancellationToken = default) =>
        RunAsync(plan, config, topic, paced, new GenerationProgress(), cancellationToken);

    /// <param name="paced">
    /// Send each event when the wall clock reaches its event-time clock (so event time follows
    /// the wall clock at the plan's rate, times <see cref="GeneratorOptions.Speed"/>); otherwise as fast as the broker takes them.
    /// </param>
    /// <param name="progress">Counts kept up to date while the plan runs, for a caller that shows progress or times deliveries; one per run.</param>
    public static async Task<GenerationReport> RunAsync(
        EventPlan plan,
        ProducerConfig config,
        string topic,
        bool paced,
        GenerationProgress progress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(progress);
        var effective = new ProducerConfig(new Dictionary<string, string>(config))
        {
            EnableIdempotence = true,
            Partitioner = Partitioner.Murmur2Random,
        };
        effective.LingerMs ??= 5;

        var delivered = new long[Enum.GetValues<EventKind>().Length];
        using var producer = new ProducerBuilder<byte[], byte[]>(effective).Build();
        var clock = Stopwatch.StartNew();
        try
        {
            foreach (var planned in plan)
            {
                if (paced && (plan.ClockMs(planned.Sequence) - plan.StartMs) / plan.Options.Speed - clock.ElapsedMilliseconds is var ahead and > 0)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(ahead), cancellationToken);
                }

                var kind = (int)planned.Kind;
                var message = new Message<byte[], byte[]> { Key = planned.Key, Value = planned.Value };
                while (true)
                {
                    try
                    {
                        var producedAt = Stopwatch.GetTimestamp();
                        producer.Produce(topic, message, report =>
                        {
                            if (report.Error.IsError)
                            {
                                progress.Refused();
                            }
                            else
                            {
                                Interlocked.Increment(ref delivered[kind]);
                                progress.Acknowledged(producedAt);
                            }
                        });
                        progress.Sent();
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
        progress.Refused(undelivered);
        clock.Stop();
        return new GenerationReport(
            Enum.GetValues<EventKind>().ToDictionary(k => k, k => Interlocked.Read(ref delivered[(int)k])),
            progress.Failed,
            clock.Elapsed);
    }
}
