namespace MetricsCollector.ReadSide;

/// <summary>
/// How many result rows a node's writer holds that are not stored yet, against a limit. The writer
/// sets it; partitions read it and take no more records while it is full, so that a store outage
/// fills memory only up to the limit and everything resumes by itself once the store answers.
/// Thread-safe: one writer, many readers.
/// </summary>
public sealed class WriteBacklog(int limit)
{
    private readonly Lock _gate = new();
    private int _rows;
    private TaskCompletionSource? _room;

    public int Limit { get; } = limit;

    public int Rows => Volatile.Read(ref _rows);

    public bool Full => Rows >= Limit;

    public void Set(int rows)
    {
        TaskCompletionSource? room;
        lock (_gate)
        {
            Volatile.Write(ref _rows, rows);
            if (rows >= Limit) return;
            (room, _room) = (_room, null);
        }

        room?.TrySetResult();
    }

    /// <summary>
    /// Completes once the backlog is below its limit (at once if it is now): a paused partition resumes
    /// as soon as the writer has stored a batch, rather than at its next timer tick, so a small limit
    /// does not leave the writer idle between batches.
    /// </summary>
    public Task Room()
    {
        lock (_gate)
        {
            if (_rows < Limit) return Task.CompletedTask;
            return (_room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
    }
}
