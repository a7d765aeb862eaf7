using System.Text.Json;
using Akka.Actor;
using Akka.Cluster;
using Akka.Persistence;
using MetricsCollector.Api;
using MetricsCollector.ReadSide;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MetricsCollector.Hosting;

internal sealed class LivenessCheck(ActorSystem system) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(system.WhenTerminated.IsCompleted
            ? HealthCheckResult.Unhealthy("actor system terminated")
            : HealthCheckResult.Healthy());
}

/// <summary>The in-memory part of readiness: cluster membership, the consumer group's assignment, partitions held back.</summary>
internal sealed class ReadinessGate(ActorSystem system, NodeReadiness readiness, ILogger<ReadinessGate> log) : IReadinessGate
{
    private string? _reported = "";

    public string? NotReady()
    {
        var reasons = Reasons();
        return reasons.Count == 0 ? null : string.Join("; ", reasons);
    }

    public List<string> Reasons()
    {
        var reasons = new List<string>();
        var status = Cluster.Get(system).SelfMember.Status;
        if (status != MemberStatus.Up) reasons.Add($"cluster member is {status}, not Up");
        if (!readiness.Consuming) reasons.Add("no Kafka consumer running");
        else if (!readiness.Assigned) reasons.Add("no assignment from the consumer group yet");
        foreach (var (partition, reason) in readiness.HeldBack) reasons.Add($"partition {partition} held back: {reason}");
        return reasons;
    }

    /// <summary>Logs readiness when it changes: balancers poll it every few seconds, and an entry per poll would bury everything else.</summary>
    public void Report(string? notReady)
    {
        if (Interlocked.Exchange(ref _reported, notReady) == notReady) return;
        if (notReady is null) log.LogInformation("Ready");
        else log.LogWarning("Not ready: {Reasons}", notReady);
    }
}

/// <summary>
/// Ready: a cluster member that is Up, joined to the consumer group with its assignment
/// received, result and snapshot stores reachable, and no partition held back. The answer
/// names everything that is not ready.
/// </summary>
internal sealed class ReadinessCheck(ActorSystem system, NodeReadiness readiness, ReadinessGate gate, IResultStore store) : IHealthCheck
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(3);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var reasons = gate.Reasons();
        if (await FailureOfAsync(() => store.PingAsync(cancellationToken), cancellationToken) is { } storeDown)
            reasons.Add($"result store unreachable: {storeDown}");
        // Before the assignment the node has not yet warmed the persistence plugins up (under a
        // lock, so that two nodes never create the tables at once): a probe now could race that.
        if (readiness.Assigned && await FailureOfAsync(() => ProbeSnapshotStoreAsync(cancellationToken), cancellationToken) is { } snapshotsDown)
            reasons.Add($"snapshot store unreachable: {snapshotsDown}");
        var notReady = reasons.Count == 0 ? null : string.Join("; ", reasons);
        gate.Report(notReady);
        return notReady is null ? HealthCheckResult.Healthy("ready") : HealthCheckResult.Unhealthy(notReady);
    }

    /// <summary>A real query of the snapshot store: the latest snapshot of an id no device has.</summary>
    private async Task ProbeSnapshotStoreAsync(CancellationToken ct)
    {
        var snapshots = Akka.Persistence.Persistence.Instance.Apply(system).SnapshotStoreFor(null);
        var answer = await snapshots.Ask<ISnapshotResponse>(
            new LoadSnapshot("readiness-probe", SnapshotSelectionCriteria.Latest, long.MaxValue), ProbeTimeout, ct);
        if (answer is LoadSnapshotFailed failed) throw failed.Cause;
    }

    private static async Task<string?> FailureOfAsync(Func<Task> probe, CancellationToken ct)
    {
        try
        {
            await probe().WaitAsync(ProbeTimeout, ct);
            return null;
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return e is TimeoutException or AskTimeoutException ? $"no answer within {ProbeTimeout.TotalSeconds:0} s" : e.Message;
        }
    }
}

/// <summary>Health answers as JSON that say what is not ready, not just "Unhealthy".</summary>
internal static class HealthAnswer
{
    public static HealthCheckOptions For(string tag) => new()
    {
        Predicate = check => check.Tags.Contains(tag),
        ResponseWriter = WriteAsync,
    };

    private static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        var body = new
        {
            status = report.Status.ToString(),
            checks = report.Entries.Select(e => new { name = e.Key, status = e.Value.Status.ToString(), description = e.Value.Description }),
        };
        return context.Response.WriteAsync(JsonSerializer.Serialize(body), context.RequestAborted);
    }
}
