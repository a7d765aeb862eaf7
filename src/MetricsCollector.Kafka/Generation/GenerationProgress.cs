using System.Diagnostics;

namespace MetricsCollector.Kafka.Generation;

/// <summary>
/// A running generator's counts, readable while it runs (for progress lines), and an optional
/// observer of each record's produce latency (from the produce call to the broker's acknowledgement).
/// </summary>
public sealed class GenerationProgress
{
    private long _produced;
    private long _delivered;
    private long _failed;

    /// <summary>Called from librdkafka's delivery thread with the produce-to-ack time of every acknowledged record; keep it cheap.</summary>
    public Action<TimeSpan>? OnDelivered { get; init; }

    /// <summary>Records handed to the producer so far.</summary>
    public long Produced => Interlocked.Read(ref _produced);

    /// <summary>Records the broker acknowledged so far.</summary>
    public long Delivered => Interlocked.Read(ref _delivered);

    /// <summary>Records the broker refused or never acknowledged so far.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    internal void Sent() => Interlocked.Increment(ref _produced);

    internal void Acknowledged(long producedAt)
    {
        Interlocked.Increment(ref _delivered);
        OnDelivered?.Invoke(Stopwatch.GetElapsedTime(producedAt));
    }

    internal void Refused(long count = 1) => Interlocked.Add(ref _failed, count);
}
