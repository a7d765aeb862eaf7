using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using MetricsCollector.Configuration;

namespace MetricsCollector.Hosting;

/// <summary>
/// Before a node takes any partition, its snapshot store creates its table (in PostgreSQL under an
/// advisory lock, so that nodes starting together do it one at a time) and, on the first start after
/// an upgrade, copies the snapshots Akka.Persistence.Sql kept: then, rather than under the first
/// thousand device recoveries. A store that does not answer yet (still starting, or copying a large
/// table) is asked again until <see cref="Limit"/>, after which the node's start fails with the cause.
/// The journal needs no warming: it answers without I/O.
/// </summary>
public static class PersistenceWarmUp
{
    /// <summary>Beyond the old plugin's 60 s: a copy of 100,000 snapshots has room, a store that stays away does not hold the start for ever.</summary>
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(2);

    private static readonly TimeSpan Pause = TimeSpan.FromSeconds(1);

    public static async Task RunAsync(ActorSystem system, CollectorSettings settings, CancellationToken ct)
    {
        var store = Akka.Persistence.Persistence.Instance.Apply(system).SnapshotStoreFor(null);
        var load = new LoadSnapshot("metrics-collector-warm-up", SnapshotSelectionCriteria.Latest, long.MaxValue);
        var until = DateTime.UtcNow + Limit;
        for (var attempt = 1; ; attempt++)
        {
            Exception cause;
            try
            {
                var answer = await store.Ask<ISnapshotResponse>(load, settings.SnapshotStore.OperationTimeout * 2, ct);
                if (answer is not LoadSnapshotFailed failed) return;
                cause = failed.Cause;
            }
            catch (AskTimeoutException e)
            {
                cause = e;
            }
            if (DateTime.UtcNow + Pause > until)
                throw new InvalidOperationException($"the snapshot store did not answer within {Limit.TotalMinutes:0} minutes: {cause.Message}", cause);
            if (attempt == 1) system.Log.Warning("The snapshot store does not answer yet ({0}); asking again until it does", cause.Message);
            await Task.Delay(Pause, ct);
        }
    }
}
