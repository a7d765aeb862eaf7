using System.Diagnostics.Tracing;

namespace MetricsCollector.Benchmarks;

/// <summary>
/// What the process allocates, by type, from the runtime's own allocation samples: the GC raises an
/// allocation tick about every 100 KB a heap hands out, naming the type of the object that crossed the
/// mark, so each type's share of the ticks is its share of the bytes. In-process and cheap (a thousand
/// events a second at 100 MB/s), so a pipeline run can print it beside its totals without a tracer.
/// </summary>
internal sealed class AllocationSampler : EventListener
{
    // GCAllocationTick (event 10) comes with the GC keyword at verbose level.
    private const EventKeywords GcKeyword = (EventKeywords)0x1;
    private const int AllocationTickId = 10;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, long> _bytesByType = [];
    private volatile bool _sampling;

    public void Start() => _sampling = true;

    public void Stop() => _sampling = false;

    /// <summary>The sampled types, largest first, each with its share of what was sampled.</summary>
    public IReadOnlyList<(string Type, double Share)> Shares()
    {
        lock (_gate)
        {
            var total = (double)Math.Max(1, _bytesByType.Values.Sum());
            return [.. _bytesByType.OrderByDescending(t => t.Value).Select(t => (t.Key, t.Value / total))];
        }
    }

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(eventSource, EventLevel.Verbose, GcKeyword);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (!_sampling || eventData.EventId != AllocationTickId || eventData.Payload is not { } payload) return;
        var names = eventData.PayloadNames!;
        var type = payload[names.IndexOf("TypeName")] as string ?? "?";
        var amount = Convert.ToInt64(payload[names.IndexOf("AllocationAmount64")], System.Globalization.CultureInfo.InvariantCulture);
        lock (_gate)
        {
            _bytesByType[type] = _bytesByType.GetValueOrDefault(type) + amount;
        }
    }
}
