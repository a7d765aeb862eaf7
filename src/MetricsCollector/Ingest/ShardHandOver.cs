using Akka.Actor;
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
    private static readonly TimeSpan StatsTimeout = TimeSpan.FromSeconds(2);

    public async Task WaitUntilOnlyHereAsync(string shard, CancellationToken ct)
    {
        var began = DateTime.UtcNow;
        string? last = null;
        while (await BlockerAsync(shard) is { } blocker)
        {
            last = blocker;
            await Task.Delay(Poll, ct);
        }
        if (last is not null)
            log.LogInformation("Shard {Shard} free to start here after {Waited:0.0} s (waited for {Blocker})", shard, (DateTime.UtcNow - began).TotalSeconds, last);
    }

    /// <summary>What the shard still waits for, or null when nothing.</summary>
    private async Task<string?> BlockerAsync(string shard)
    {
        var state = cluster.State;
        if (!state.Unreachable.IsEmpty) return $"unreachable members {string.Join(", ", state.Unreachable.Select(m => m.Address))}";
        ClusterShardingStats stats;
        try
        {
            stats = await region.Ask<ClusterShardingStats>(new GetClusterShardingStats(StatsTimeout), StatsTimeout + StatsTimeout);
        }
        catch (AskTimeoutException)
        {
            return "shard statistics";
        }
        foreach (var (address, regionStats) in stats.Regions)
        {
            if (address == cluster.SelfAddress) continue;
            if (regionStats.Stats.ContainsKey(shard)) return $"hand-off from {address}";
            if (regionStats.Failed.Contains(shard)) return $"an answer from {address}";
        }
        return null;
    }
}
