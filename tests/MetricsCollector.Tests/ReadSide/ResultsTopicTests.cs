using System.Collections;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using MetricsCollector.Configuration;
using MetricsCollector.Ingest;
using MetricsCollector.Kafka;
using MetricsCollector.ReadSide;

namespace MetricsCollector.Tests.ReadSide;

public sealed class ResultsTopicTests : TestKit, IAsyncLifetime
{
    private static readonly CollectorSettings Settings = CollectorSettings.Load(null, new Hashtable());

    private readonly string _dir = Directory.CreateTempSubdirectory("mc-results-topic-").FullName;
    private SqliteResultStore _store = null!;

    public Task InitializeAsync()
    {
        _store = new SqliteResultStore($"Data Source={Path.Combine(_dir, "results.db")}") { KeepsResultsOutbox = true };
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>
    /// The actor starts with the node's actor system, before the store's schema is ensured; a sweep then
    /// found no results outbox and warned at every start.
    /// </summary>
    [Fact]
    public async Task The_sweep_touches_the_store_only_once_its_schema_is_ensured()
    {
        var counting = FleetCacheTests.Counting.Around(_store);
        var store = (IResultStore)(object)counting;
        var finality = new RowFinality(new StoreProgress(store), new InputTopic { Partitions = 1 }, Settings, TimeProvider.System);
        var schema = new TaskCompletionSource();
        // Nothing listens there: the producer is built but has nothing to send.
        var actor = Sys.ActorOf(ResultsTopicActor.Props(store, finality, new KafkaClients("127.0.0.1:1"), "results", Settings, schema.Task));

        // The first answer comes after PreStart, which queued any first sweep; the second after that sweep began.
        await actor.Ask<ActorIdentity>(new Identify(1), TimeSpan.FromSeconds(5));
        await actor.Ask<ActorIdentity>(new Identify(2), TimeSpan.FromSeconds(5));
        Assert.Equal(0, counting.Calls(nameof(IResultStore.LoadProgressAsync)) + counting.Calls(nameof(IResultStore.OwedResultsAsync)));

        await _store.EnsureSchemaAsync();
        schema.SetResult();
        await AwaitConditionAsync(() => Task.FromResult(counting.Calls(nameof(IResultStore.OwedResultsAsync)) > 0), TimeSpan.FromSeconds(10));

        // Stopped before the store is disposed under it.
        Watch(actor);
        Sys.Stop(actor);
        await ExpectTerminatedAsync(actor);
    }
}
