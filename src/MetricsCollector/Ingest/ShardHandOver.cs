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

    private readonly Lock _gate = new();
    private Task<ClusterShardingStats>? _query;
    private DateTime _queryStarted;

    public async Task WaitUntilOnlyHereAsync(string shard, CancellationToken ct)
    {
        var began = DateTime.UtcNow;
        var warnAt = began + WarnEvery;
        string? last = null;
        // Checks overlap rather than wait for each other: a query that went out while the coordinator
        // still counted a removed node's region waits out its whole timeout and then says nothing,
        // while one sent a moment later, once the coordinator has let that region go, answers at once.
        var pending = new List<Task<string?>>();
        var tick = Task.CompletedTask;
        while (true)
        {
            if (tick.IsCompleted)
            {
                pending.Add(BlockerAsync(shard, began, ct));
                tick = Task.Delay(Poll, ct);
            }
            var done = await Task.WhenAny(pending.Append(tick));
            ct.ThrowIfCancellationRequested();
            if (done == tick) continue;
            var check = (Task<string?>)done;
            pending.Remove(check);
            if (await check is not { } blocker) break;
            last = blocker;
            if (DateTime.UtcNow >= warnAt)
            {
                log.LogWarning("Shard {Shard} still cannot start here after {Waited:0} s: waiting for {Blocker}", shard, (DateTime.UtcNow - began).TotalSeconds, blocker);
                warnAt += WarnEvery;
            }
        }
        if (last is not null)
            log.LogInformation("Shard {Shard} free to start here after {Waited:0.0} s (waited for {Blocker})", shard, (DateTime.UtcNow - began).TotalSeconds, last);
    }

    /// <summary>What the shard still waits for, or null when nothing.</summary>
    private async Task<string?> BlockerAsync(string shard, DateTime waitingSince, CancellationToken ct)
    {
        if (!cluster.State.Unreachable.IsEmpty)
            return $"unreachable members {string.Join(", ", cluster.State.Unreachable.Select(m => m.Address))}";
        ClusterShardingStats stats;
        try
        {
            stats = await SharedStatsAsync(waitingSince).WaitAsync(ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return $"shard statistics ({e.GetType().Name})";
        }
        // Judged by the membership as it is when the answer comes. Statistics without some member's
        // region say nothing about that region: the coordinator answers with none at all when one
        // region did not answer in time.
        var state = cluster.State;
        if (!state.Unreachable.IsEmpty) return $"unreachable members {string.Join(", ", state.Unreachable.Select(m => m.Address))}";
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

    /// <summary>
    /// The statistics query of this poll interval, shared by every shard waiting on this node: a
    /// rebalance assigns several partitions at once, and each query costs the coordinator a round
    /// to every region and each region one to its shards. Only a query sent after the shard began
    /// to wait counts: an earlier one may predate the previous owner's last use of the shard.
    /// </summary>
    private Task<ClusterShardingStats> SharedStatsAsync(DateTime notBefore)
    {
        lock (_gate)
        {
            if (_query is null || _queryStarted < notBefore || DateTime.UtcNow - _queryStarted >= Poll)
            {
                _query = region.Ask<ClusterShardingStats>(new GetClusterShardingStats(StatsTimeout), StatsTimeout + StatsTimeout);
                _queryStarted = DateTime.UtcNow;
            }
            return _query;
        }
    }
}
