namespace MetricsCollector.Partitions;

/// <summary>Stream → partition actor protocol (Sink.ActorRefWithAck): one ack per message.</summary>
public sealed class StreamInit
{
    public static readonly StreamInit Instance = new();
}

public sealed class StreamAck
{
    public static readonly StreamAck Instance = new();
}

public sealed class StreamCompleted
{
    public static readonly StreamCompleted Instance = new();
}

public sealed record StreamFailed(Exception Cause);
