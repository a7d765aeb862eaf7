namespace MetricsCollector.Core.Time;

/// <summary>
/// Event-time timers of one partition, as in Flink's timer service: each key (a device) asks to
/// be woken when the watermark reaches a time, and only its earliest request counts. Devices
/// with nothing pending cost nothing when the watermark moves, which keeps a watermark step
/// O(due timers) rather than O(devices).
/// </summary>
public sealed class EventTimeTimers<TKey> where TKey : notnull
{
    private readonly PriorityQueue<TKey, long> _queue = new();
    private readonly Dictionary<TKey, long> _pending = new();

    public int Count => _pending.Count;

    /// <summary>Every key with its requested time: what a checkpoint must keep so that a restart still wakes them.</summary>
    public IReadOnlyDictionary<TKey, long> Pending => _pending;

    /// <summary>Asks for <paramref name="key"/> to be due once the watermark reaches <paramref name="time"/>;
    /// <see cref="long.MaxValue"/> cancels. A later request replaces an earlier one.</summary>
    /// <returns>Whether what is pending changed.</returns>
    public bool Set(TKey key, long time)
    {
        if (time == long.MaxValue) return _pending.Remove(key);
        if (_pending.TryGetValue(key, out var existing) && existing == time) return false;
        _pending[key] = time;
        // The superseded queue entry stays behind and is skipped when it surfaces: cheaper than a decrease-key.
        _queue.Enqueue(key, time);
        return true;
    }

    /// <summary>Removes and returns every key whose time is at or below <paramref name="watermark"/>.</summary>
    public IReadOnlyList<TKey> TakeDue(long watermark)
    {
        var due = TakeDueTimers(watermark);
        if (due.Count == 0) return [];
        var keys = new List<TKey>(due.Count);
        foreach (var (key, _) in due) keys.Add(key);
        return keys;
    }

    /// <summary>Removes and returns every key whose time is at or below <paramref name="watermark"/>, with the time it asked for.</summary>
    public IReadOnlyList<(TKey Key, long Time)> TakeDueTimers(long watermark)
    {
        // Called after every batch; most calls find nothing due and should not allocate.
        if (!_queue.TryPeek(out _, out var earliest) || earliest > watermark) return [];
        var due = new List<(TKey, long)>();
        while (_queue.TryPeek(out var key, out var time) && time <= watermark)
        {
            _queue.Dequeue();
            if (_pending.TryGetValue(key, out var wanted) && wanted == time)
            {
                _pending.Remove(key);
                due.Add((key, time));
            }
        }
        return due;
    }
}
