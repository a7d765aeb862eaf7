using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;
using Microsoft.Extensions.Logging;

namespace MetricsCollector.Ingest;

/// <summary>
/// Waits until a partition's device shard can only come to this node. A message sent to a shard
/// while another node still hosts it goes there: to a node that was killed and not yet downed it
/// is lost without a trace, and a node handing the shard off drops what it buffered for it. A lost
/// record would leave a gap that the device's offset-based replay skipping cannot see. So a newly
/// assigned partition sends nothing until every member is reachable (a dead one has been downed
/// and removed) and no other region hosts its shard (the hand-off is over); the external
/// allocation, already pointing here, then starts the shard here on the first message.
/// </summary>
public sealed class ShardHandOver(IActorRef region, Akka.Cluster.Cluster cluster, ILogger log)
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan WarnEvery = TimeSpan.FromSeconds(15);

    // Longer than a region's own query of its shards (shard-region-query-timeout, 3 s): a shard in
    // the middle of a hand-off never answers that query, and if the coordinator's question to its
    // region timed out first, the coordinator would answer with no regions at all.
    private static readonly TimeSpan StatsTimeout = TimeSpan.FromSeconds(5);

    public async Task WaitUntilOnlyHereAsync(string shard, CancellationToken ct)
    {
        var began = DateTime.UtcNow;
        var warnAt = began + WarnEvery;
        string? last = null;
        while (await BlockerAsync(shard, ct) is { } blocker)
        {
            last = blocker;
            if (DateTime.UtcNow >= warnAt)
            {
                log.LogWarning("Shard {Shard} still cannot start here after {Waited:0} s: waiting for {Blocker}", shard, (DateTime.UtcNow - began).TotalSeconds, blocker);
                warnAt += WarnEvery;
            }
            await Task.Delay(Poll, ct);
        }
        if (last is not null)
            log.LogInformation("Shard {Shard} free to start here after {Waited:0.0} s (waited for {Blocker})", shard, (DateTime.UtcNow - began).TotalSeconds, last);
    }

    /// <summary>What the shard still waits for, or null when nothing.</summary>
    private async Task<string?> BlockerAsync(string shard, CancellationToken ct)
    {
        var state = cluster.State;
        if (!state.Unreachable.IsEmpty) return $"unreachable members {string.Join(", ", state.Unreachable.Select(m => m.Address))}";
        ClusterShardingStats stats;
        try
        {
            stats = await region.Ask<ClusterShardingStats>(new GetClusterShardingStats(StatsTimeout), StatsTimeout + StatsTimeout, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return $"shard statistics ({e.GetType().Name})";
        }
        // Statistics without some member's region say nothing about that region: the coordinator
        // answers with none at all when one region did not answer in time.
        var missing = state.Members.Where(m => m.Status == MemberStatus.Up && !stats.Regions.ContainsKey(m.Address)).Select(m => m.Address).ToList();
        if (missing.Count > 0) return $"shard statistics from {string.Join(", ", missing)}";
        foreach (var (address, regionStats) in stats.Regions)
        {
            if (address == cluster.SelfAddress) continue;
            if (regionStats.Stats.ContainsKey(shard)) return $"hand-off from {address}";
            if (regionStats.Failed.Contains(shard)) return $"an answer from {address}";
        }
        return null;
    }
}
