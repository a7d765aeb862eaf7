using Akka.Actor;
using Akka.Persistence;
using MetricsCollector.Configuration;
using Npgsql;

namespace MetricsCollector.Hosting;

/// <summary>
/// Akka.Persistence.Sql creates its journal and snapshot tables on first use, on every node at
/// once; two PostgreSQL sessions running the same CREATE TABLE IF NOT EXISTS together can fail
/// (a duplicate key in pg_type), and a snapshot store that failed to initialize stays broken:
/// every device on that node would wait for its snapshot forever. So before a node takes any
/// partition, one throw-away persistent actor recovers while the node holds a cluster-wide
/// PostgreSQL advisory lock: the plugins initialize one node at a time.
/// </summary>
public static class PersistenceWarmUp
{
    /// <summary>An arbitrary key shared by every node of every cluster on this database.</summary>
    private const long LockKey = 0x4D435F5741524D;

    public static async Task RunAsync(ActorSystem system, CollectorSettings settings, CancellationToken ct)
    {
        if (settings.StoreProvider != "postgresql")
        {
            await RecoverOnceAsync(system, ct);
            return;
        }
        await using var connection = new NpgsqlConnection(settings.PersistenceConnection);
        await connection.OpenAsync(ct);
        await using (var take = new NpgsqlCommand($"SELECT pg_advisory_lock({LockKey})", connection)) await take.ExecuteNonQueryAsync(ct);
        try
        {
            await RecoverOnceAsync(system, ct);
        }
        finally
        {
            await using var release = new NpgsqlCommand($"SELECT pg_advisory_unlock({LockKey})", connection);
            await release.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    private static async Task RecoverOnceAsync(ActorSystem system, CancellationToken ct)
    {
        var actor = system.ActorOf(Props.Create(() => new WarmUpActor()), $"persistence-warm-up-{Guid.NewGuid():N}");
        try
        {
            await actor.Ask<RecoveryCompleted>(WarmUpActor.Ready.Instance, TimeSpan.FromSeconds(60), ct);
        }
        finally
        {
            actor.Tell(PoisonPill.Instance);
        }
    }

    /// <summary>Recovery touches both the journal (highest sequence number) and the snapshot store (latest snapshot).</summary>
    private sealed class WarmUpActor : ReceivePersistentActor
    {
        public WarmUpActor()
        {
            Command<Ready>(_ => Sender.Tell(RecoveryCompleted.Instance));
        }

        public override string PersistenceId => "metrics-collector-warm-up";

        public sealed class Ready
        {
            public static readonly Ready Instance = new();
        }
    }
}
