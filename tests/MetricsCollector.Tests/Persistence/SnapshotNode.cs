using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;

namespace MetricsCollector.Tests.Persistence;

/// <summary>An actor system with a node's persistence plugins on a test database, spoken to through Akka's snapshot protocol.</summary>
public sealed class SnapshotNode : IAsyncDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private SnapshotNode(ActorSystem system) => System = system;

    public ActorSystem System { get; }

    public IActorRef Store => Akka.Persistence.Persistence.Instance.Apply(System).SnapshotStoreFor(null);

    public static SnapshotNode Start(SnapshotDatabase database, string hocon = "") => Start(database.NodeConfig(hocon));

    public static SnapshotNode Start(Config config) =>
        new(ActorSystem.Create("snapshots", ConfigurationFactory.ParseString("akka.loglevel = WARNING").WithFallback(config)));

    public Task<ISnapshotResponse> AskAsync(object message, TimeSpan? timeout = null) =>
        Store.Ask<ISnapshotResponse>(message, timeout ?? Patience);

    public async Task<SnapshotMetadata> SaveAsync(string persistenceId, object snapshot, long sequenceNr = 0, DateTime? timestamp = null)
    {
        var answer = await AskAsync(new SaveSnapshot(new SnapshotMetadata(persistenceId, sequenceNr, timestamp ?? DateTime.UtcNow), snapshot));
        return answer is SaveSnapshotSuccess success ? success.Metadata : throw Unexpected(answer);
    }

    public async Task<SelectedSnapshot?> LoadAsync(string persistenceId, SnapshotSelectionCriteria? criteria = null)
    {
        var answer = await AskAsync(new LoadSnapshot(persistenceId, criteria ?? SnapshotSelectionCriteria.Latest, long.MaxValue));
        return answer is LoadSnapshotResult result ? result.Snapshot : throw Unexpected(answer);
    }

    public async ValueTask DisposeAsync() => await System.Terminate();

    private static InvalidOperationException Unexpected(ISnapshotResponse answer) => answer switch
    {
        SaveSnapshotFailure f => new InvalidOperationException("save failed", f.Cause),
        LoadSnapshotFailed f => new InvalidOperationException("load failed", f.Cause),
        _ => new InvalidOperationException($"unexpected answer {answer}"),
    };
}
