namespace MetricsCollector.Load;

/// <summary>A served row as far as visibility goes: its window and how many events it counts.</summary>
public readonly record struct CountedWindow(long WindowStart, long WindowEnd, long Count);

/// <summary>
/// Which probe events the API already shows. A probe device is the load run's own (its id is unique to the
/// run), so every event it has is one the run sent, and a served row of window [start, end) counts all of
/// the run's events in that window once its count reaches how many were sent there. An event is visible
/// from the first poll that finds such a row for any window holding it; its latency runs from its produce
/// call to that answer, so it is late by up to one poll interval.
/// </summary>
public sealed class ProbeTracker
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, List<Probe>> _devices;
    private long _sent;
    private long _seen;

    public ProbeTracker(IEnumerable<string> devices) =>
        _devices = devices.ToDictionary(d => d, _ => new List<Probe>(), StringComparer.Ordinal);

    public IReadOnlyCollection<string> Devices => _devices.Keys;

    public long Sent => Interlocked.Read(ref _sent);

    public long Seen => Interlocked.Read(ref _seen);

    public long Pending => Sent - Seen;

    /// <summary>Notes an event of <paramref name="device"/> at <paramref name="eventTime"/> (epoch ms, never below the device's previous one), produced at <paramref name="producedAt"/>.</summary>
    public void Produced(string device, long eventTime, DateTimeOffset producedAt)
    {
        lock (_lock)
        {
            var probes = _devices[device];
            if (probes.Count > 0 && probes[^1].EventTime > eventTime)
            {
                throw new ArgumentException($"probe events of {device} must come in event-time order", nameof(eventTime));
            }

            probes.Add(new Probe(eventTime, producedAt));
            Interlocked.Increment(ref _sent);
        }
    }

    /// <summary>The earliest event time of <paramref name="device"/> not yet seen, or null when all are.</summary>
    public long? OldestPending(string device)
    {
        lock (_lock)
        {
            return _devices[device].FirstOrDefault(p => p.SeenAfter is null)?.EventTime;
        }
    }

    /// <summary>
    /// Marks what <paramref name="rows"/> (served for <paramref name="device"/> at <paramref name="answeredAt"/>)
    /// show, and returns the produce → visible time of each event seen for the first time.
    /// </summary>
    public IReadOnlyList<TimeSpan> Observe(string device, IEnumerable<CountedWindow> rows, DateTimeOffset answeredAt)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var newlySeen = new List<TimeSpan>();
        lock (_lock)
        {
            var probes = _devices[device];
            foreach (var row in rows)
            {
                var first = FirstAtOrAfter(probes, row.WindowStart);
                var end = FirstAtOrAfter(probes, row.WindowEnd);
                if (end == first || row.Count < end - first)
                {
                    continue;
                }

                for (var i = first; i < end; i++)
                {
                    if (probes[i].SeenAfter is null)
                    {
                        var latency = answeredAt - probes[i].ProducedAt;
                        probes[i] = probes[i] with { SeenAfter = latency };
                        newlySeen.Add(latency);
                    }
                }
            }

            Interlocked.Add(ref _seen, newlySeen.Count);
        }

        return newlySeen;
    }

    /// <summary>The index of the first probe whose event time is at or after <paramref name="time"/> (probes are in event-time order).</summary>
    private static int FirstAtOrAfter(List<Probe> probes, long time)
    {
        int low = 0, high = probes.Count;
        while (low < high)
        {
            var mid = (low + high) / 2;
            if (probes[mid].EventTime < time)
            {
                low = mid + 1;
            }
            else
            {
                high = mid;
            }
        }

        return low;
    }

    private sealed record Probe(long EventTime, DateTimeOffset ProducedAt, TimeSpan? SeenAfter = null);
}
