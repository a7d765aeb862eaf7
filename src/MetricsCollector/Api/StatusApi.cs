using System.Globalization;
using Akka.Actor;
using Akka.Cluster;
using MetricsCollector.Observability;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MetricsCollector.Api;

/// <summary>
/// <c>GET /status</c>: what the live page's status strip shows, from the node that answers: whether it is
/// ready (and if not, why), the cluster's members as this node sees them, and the Kafka partitions this
/// node consumes with their watermark, committed offset and, where known, log end and lag. Each node
/// lists its own partitions: ask every node to see them all.
/// </summary>
public static class StatusApi
{
    private const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";

    public static IEndpointRouteBuilder MapStatusApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/status", StatusAsync);
        return endpoints;
    }

    private static async Task<IResult> StatusAsync(ActorSystem system, CollectorMetrics metrics, HealthCheckService health, CancellationToken ct)
    {
        var ready = await health.CheckHealthAsync(check => check.Tags.Contains("ready"), ct);
        var cluster = Cluster.Get(system);
        var state = cluster.State;
        var members = state.Members
            .Select(m => new MemberStatusJson(
                m.Address.ToString(),
                m.Status.ToString(),
                m.Roles.Order(StringComparer.Ordinal).ToList(),
                Reachable: !state.Unreachable.Contains(m),
                Leader: m.Address.Equals(state.Leader),
                Self: m.Address.Equals(cluster.SelfAddress)))
            .ToList();
        var partitions = metrics.PartitionStatuses()
            .Select(p => new PartitionStatusJson(
                p.Partition,
                Time(p.Watermark),
                p.Committed >= 0 ? p.Committed : null,
                p.LogEnd,
                p.Lag))
            .ToList();
        var notReady = ready.Entries.Where(e => e.Value.Status != HealthStatus.Healthy)
            .Select(e => e.Value.Description ?? e.Key)
            .ToList();
        return TypedResults.Json(new StatusJson(cluster.SelfAddress.ToString(), ready.Status == HealthStatus.Healthy, notReady, members, partitions));
    }

    /// <summary>An epoch-ms watermark as the API writes times; null before the partition has one.</summary>
    private static string? Time(long epochMs) =>
        epochMs is > -62_135_596_800_000 and < 253_402_300_800_000
            ? DateTime.UnixEpoch.AddMilliseconds(epochMs).ToString(TimeFormat, CultureInfo.InvariantCulture)
            : null;

    private sealed record StatusJson(string Node, bool Ready, IReadOnlyList<string> NotReady, IReadOnlyList<MemberStatusJson> Members, IReadOnlyList<PartitionStatusJson> Partitions);

    private sealed record MemberStatusJson(string Address, string Status, IReadOnlyList<string> Roles, bool Reachable, bool Leader, bool Self);

    private sealed record PartitionStatusJson(int Partition, string? Watermark, long? Committed, long? LogEnd, long? Lag);
}
