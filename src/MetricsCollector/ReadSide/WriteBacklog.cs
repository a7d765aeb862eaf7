namespace MetricsCollector.ReadSide;

/// <summary>
/// How many result rows a node's writer holds that are not stored yet, against a limit. The writer
/// sets it; partitions read it and take no more records while it is full, so that a store outage
/// fills memory only up to the limit and everything resumes by itself once the store answers.
/// Thread-safe: one writer, many readers.
/// </summary>
public sealed class WriteBacklog(int limit)
{
    private int _rows;

    public int Limit { get; } = limit;

    public int Rows => Volatile.Read(ref _rows);

    public bool Full => Rows >= Limit;

    public void Set(int rows) => Volatile.Write(ref _rows, rows);
}
