using System.Diagnostics;
using MetricsCollector.Observability;

namespace MetricsCollector.Tests.Observability;

/// <summary>The spans of <see cref="CollectorTracing"/>, seen by a listener as an OTLP exporter would see them.</summary>
public sealed class CollectorTracingTests
{
    [Fact]
    public async Task A_store_write_span_covers_the_write_and_is_not_left_current_for_the_caller()
    {
        var stopped = new List<Activity>();
        using var listener = Listen(stopped);
        var release = new TaskCompletionSource<int>();
        Activity? insideWrite = null;

        var write = CollectorTracing.StoreWrite(42, () =>
        {
            insideWrite = Activity.Current;
            return release.Task;
        });

        // The caller (an actor) goes on with other messages: none of them belongs to the write.
        Assert.Null(Activity.Current);
        Assert.NotNull(insideWrite);
        Assert.Equal("store write", insideWrite!.OperationName);
        Assert.Equal(42, insideWrite.GetTagItem("mc.rows"));
        lock (stopped) Assert.DoesNotContain(insideWrite, stopped);

        release.SetResult(7);
        Assert.Equal(7, await write);
        lock (stopped) Assert.Contains(insideWrite, stopped);
        Assert.Equal(ActivityStatusCode.Unset, insideWrite.Status);
    }

    [Fact]
    public async Task A_failed_store_write_ends_its_span_as_an_error()
    {
        var stopped = new List<Activity>();
        using var listener = Listen(stopped);

        await Assert.ThrowsAsync<TimeoutException>(() => CollectorTracing.StoreWrite<int>(1, async () =>
        {
            await Task.Yield();
            throw new TimeoutException("store down");
        }));

        Activity span;
        lock (stopped) span = Assert.Single(stopped, a => a.OperationName == "store write" && a.StatusDescription == "store down");
        Assert.Equal(ActivityStatusCode.Error, span.Status);
    }

    [Fact]
    public async Task A_snapshot_batch_span_counts_its_snapshots_and_ends_with_the_transaction()
    {
        var stopped = new List<Activity>();
        using var listener = Listen(stopped);
        var commit = new TaskCompletionSource();

        var batch = CollectorTracing.SnapshotBatch(250, () => commit.Task);
        lock (stopped) Assert.DoesNotContain(stopped, a => a.OperationName == "snapshot batch" && Equals(a.GetTagItem("mc.snapshots"), 250));
        commit.SetResult();
        await batch;

        lock (stopped) Assert.Single(stopped, a => a.OperationName == "snapshot batch" && Equals(a.GetTagItem("mc.snapshots"), 250));
    }

    /// <summary>Records every span of ours that ends (other tests' nodes in this process add theirs).</summary>
    private static ActivityListener Listen(List<Activity> stopped)
    {
        var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == CollectorTracing.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity => { lock (stopped) stopped.Add(activity); },
        };
        ActivitySource.AddActivityListener(listener);
        return listener;
    }
}
