using System.Diagnostics;

namespace MetricsCollector.Observability;

/// <summary>
/// The node's spans: one per batch of work (a partition's batch of records, a store write, a
/// snapshot batch), never one per event. Without a listener (no OTLP endpoint configured, see
/// <see cref="Telemetry"/>) starting a span returns null and costs a branch.
/// </summary>
public static class CollectorTracing
{
    public const string SourceName = "MetricsCollector";

    private static readonly ActivitySource Source = new(SourceName);

    /// <summary>A span around the synchronous handling of one batch of a partition's records; dispose it when the batch is handed on.</summary>
    public static Activity? PartitionBatch(int partition, int records) =>
        Source.StartActivity("partition batch")?
            .SetTag("messaging.destination.partition.id", partition)
            .SetTag("mc.records", records);

    /// <summary>
    /// Runs <paramref name="write"/> inside a "store write" span that ends when the write does.
    /// The span is current only for the write itself (so the database client's spans nest under
    /// it), not for the caller: an actor that starts a write goes on with other messages on the
    /// same thread, and they must not look like part of the write.
    /// </summary>
    public static Task<T> StoreWrite<T>(int rows, Func<Task<T>> write) => Around("store write", "mc.rows", rows, write);

    /// <summary>Runs <paramref name="write"/>, one transaction of the snapshot store holding <paramref name="snapshots"/> snapshots, inside a "snapshot batch" span, as <see cref="StoreWrite"/>.</summary>
    public static Task SnapshotBatch(int snapshots, Func<Task> write) =>
        Around("snapshot batch", "mc.snapshots", snapshots, async () =>
        {
            await write();
            return true;
        });

    private static Task<T> Around<T>(string name, string countTag, int count, Func<Task<T>> write)
    {
        var caller = Activity.Current;
        var span = Source.StartActivity(name)?.SetTag(countTag, count);
        if (span is null) return write();
        try
        {
            return EndWhenDone(write(), span);
        }
        catch (Exception e)
        {
            span.SetStatus(ActivityStatusCode.Error, e.Message).Dispose();
            throw;
        }
        finally
        {
            Activity.Current = caller;
        }
    }

    private static async Task<T> EndWhenDone<T>(Task<T> write, Activity span)
    {
        try
        {
            return await write;
        }
        catch (Exception e)
        {
            span.SetStatus(ActivityStatusCode.Error, e.Message);
            throw;
        }
        finally
        {
            span.Dispose();
        }
    }
}
