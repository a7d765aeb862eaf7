using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Snapshot;
using Akka.TestKit.Xunit2;
using MetricsCollector.Core.Windows;
using MetricsCollector.Devices;
using MetricsCollector.Observability;

namespace MetricsCollector.Tests.Devices;

/// <summary>
/// A snapshot store that leaves the first save of every device unanswered, as one was seen to after a
/// store outage: the device must not wait for it for good, or its partition never commits again.
/// </summary>
public sealed class UnansweredSnapshotTests : TestKit
{
    private static readonly Config Persistence = ConfigurationFactory.ParseString($$"""
        akka.persistence.journal.plugin = "akka.persistence.journal.inmem"
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.forgetful"
        akka.persistence.snapshot-store.forgetful {
          class = "{{typeof(ForgetfulSnapshotStore).AssemblyQualifiedName}}"
          # Akka's own breaker would time the call out in the end; here nothing does but the device.
          circuit-breaker { max-failures = 10, call-timeout = 1h, reset-timeout = 1s }
        }
        """);

    public UnansweredSnapshotTests() : base(Persistence) { }

    /// <summary>Answers nothing to a persistence id's first save; stores the later ones.</summary>
    public sealed class ForgetfulSnapshotStore : SnapshotStore
    {
        private readonly HashSet<string> _ignored = new();
        private readonly Dictionary<string, SelectedSnapshot> _saved = new();

        protected override Task<SelectedSnapshot?> LoadAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken = default) =>
            Task.FromResult(_saved.GetValueOrDefault(persistenceId));

        protected override Task SaveAsync(SnapshotMetadata metadata, object snapshot, CancellationToken cancellationToken = default)
        {
            if (_ignored.Add(metadata.PersistenceId)) return new TaskCompletionSource().Task;
            _saved[metadata.PersistenceId] = new SelectedSnapshot(metadata, snapshot);
            return Task.CompletedTask;
        }

        protected override Task DeleteAsync(SnapshotMetadata metadata, CancellationToken cancellationToken = default) => Task.CompletedTask;

        protected override Task DeleteAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken = default) => Task.CompletedTask;
    }

    [Fact]
    public void A_save_the_store_never_answers_is_made_again_and_the_partition_hears_it_covered()
    {
        var settings = new DeviceSettings(new WindowSettings(new WindowSpec(60_000, 10_000), 5_000),
            SnapshotAfterEvents: 1, SnapshotInterval: TimeSpan.FromMinutes(1),
            SnapshotTimeout: TimeSpan.FromMilliseconds(500));
        var partition = CreateTestProbe();
        partition.IgnoreMessages(m => m is DeviceAck or WakeMeAt);
        var device = Sys.ActorOf(DeviceActor.Props("d", 0, settings, CreateTestProbe().Ref, new CollectorMetrics(), TimeProvider.System));

        device.Tell(new DeviceEvents("d", 0, partition.Ref, "broker", [new PartitionEvent(7, long.MinValue, 1_000, 10)]) { Delivery = new Delivery(1, 1) });

        var covered = partition.ExpectMsg<Covered>(TimeSpan.FromSeconds(10));
        Assert.Equal((1L, 7L), (covered.ThroughSeq, covered.ThroughOffset));
    }
}
