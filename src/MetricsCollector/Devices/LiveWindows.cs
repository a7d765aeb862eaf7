using Akka.Actor;
using Akka.Cluster;
using MetricsCollector.Configuration;
using MetricsCollector.Core.Windows;
using MetricsCollector.Ingest;

namespace MetricsCollector.Devices;

/// <summary>
/// A device's windows that have not fired yet, asked of its running actors. A device has one actor per
/// partition its records came on (<see cref="DeviceShardMessageExtractor"/>), and which partitions those are
/// nobody keeps: so every partition of the topic (as the broker last reported it) is looked at on every
/// member, by the path sharding gives the actor, with <see cref="Identify"/>. An actor that is not running
/// answers nothing and is not started (a message through the shard region would start it and load its
/// snapshot, only to answer); a member that does not hold that shard answers at once that nothing is there.
/// Each running actor then gives its open windows as parts, merged here per window as the store merges rows.
/// A passivated device (idle for longer than passivate-after) therefore shows no open windows.
/// </summary>
public sealed class LiveWindows(ActorSystem system, InputTopic topic, CollectorSettings settings)
{
    /// <summary>
    /// The device's open windows, newest first: empty when none of its actors runs. Throws
    /// <see cref="TimeoutException"/> when a member or an actor does not answer in time, or while the topic's
    /// partition count is not known yet (the API turns that into 503).
    /// </summary>
    public async Task<IReadOnlyList<WindowResult>> OpenAsync(string deviceId, CancellationToken ct)
    {
        var partitions = topic.Partitions ?? throw new TimeoutException("the input topic's partition count is not known yet");
        var members = Cluster.Get(system).State.Members.Where(m => m.Status == MemberStatus.Up).Select(m => m.Address).ToList();
        var identities = members
            .SelectMany(member => Enumerable.Range(0, partitions).Select(partition => PathOf(member, deviceId, partition)))
            .Select(path => AskAsync<ActorIdentity>(system.ActorSelection(path), new Identify(null), ct));
        var running = (await Task.WhenAll(identities)).Select(i => i.Subject).OfType<IActorRef>();
        var answers = await Task.WhenAll(running.Select(actor => AskAsync<OpenWindows>(actor, GetOpenWindows.Instance, ct)));
        return answers
            .SelectMany(a => a.Parts)
            .GroupBy(p => p.Row.WindowEnd)
            .OrderByDescending(w => w.Key)
            .Select(w => WindowPart.Merge(w.OrderBy(p => p.Partition).ToList()))
            .ToList();
    }

    /// <summary>Where sharding puts the entity: region, shard and entity names as it escapes them, under /system/sharding.</summary>
    private static ActorPath PathOf(Address member, string deviceId, int partition) =>
        new RootActorPath(member) / "system" / "sharding" / Uri.EscapeDataString(DeviceShardMessageExtractor.TypeName)
        / Uri.EscapeDataString(DeviceShardMessageExtractor.ShardOf(partition))
        / Uri.EscapeDataString(DeviceShardMessageExtractor.EntityIdOf(deviceId, partition));

    private async Task<T> AskAsync<T>(ICanTell target, object message, CancellationToken ct)
    {
        try
        {
            return await target.Ask<T>(message, settings.TopNTimeout, ct);
        }
        catch (AskTimeoutException e)
        {
            throw new TimeoutException($"a device or cluster member did not answer within {settings.TopNTimeout.TotalSeconds:0.###} s", e);
        }
    }
}
