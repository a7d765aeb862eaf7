namespace MetricsCollector.Ingest;

/// <summary>
/// The input topic as the broker last reported it to this node (its partition count), for the parts of
/// the node that must not assume the configured count. Null until the first report. Thread-safe.
/// </summary>
public sealed class InputTopic
{
    private int _partitions = -1;

    public int? Partitions
    {
        get => Volatile.Read(ref _partitions) is var count and >= 0 ? count : null;
        set => Volatile.Write(ref _partitions, value ?? -1);
    }
}
