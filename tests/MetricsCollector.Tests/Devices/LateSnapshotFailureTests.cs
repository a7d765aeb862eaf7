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
/// A snapshot store that answers a device's first save only when the test says so, with a failure: as
/// one did after a store outage, long after the device had given up on it and saved again. That late
/// answer must not cost the device the snapshot its next changes are due.
/// </summary>
public sealed class LateSnapshotFailureTests : TestKit
{
    private static readonly Config Persistence = ConfigurationFactory.ParseString($$"""
        akka.persistence.journal.plugin = "akka.persistence.journal.inmem"
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.late"
        akka.persistence.snapshot-store.late {
          class = "{{typeof(LateFailingSnapshotStore).AssemblyQualifiedName}}"
          circuit-breaker { max-failures = 10, call-timeout = 1h, reset-timeout = 1s }
        }
        """);

    // One test in this class, so one device and one first save.
    private static readonly TaskCompletionSource FirstSaveAnswer = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public LateSnapshotFailureTests() : base(Persistence) { }

    /// <summary>Fails a persistence id's first save once <see cref="FirstSaveAnswer"/> is set; stores the later ones.</summary>
    public sealed class LateFailingSnapshotStore : SnapshotStore
    {
        private readonly HashSet<string> _seen = new();
        private readonly Dictionary<string, SelectedSnapshot> _saved = new();

        protected override Task<SelectedSnapshot?> LoadAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken = default) =>
            Task.FromResult(_saved.GetValueOrDefault(persistenceId));

        protected override async Task SaveAsync(SnapshotMetadata metadata, object snapshot, CancellationToken cancellationToken = default)
        {
            if (_seen.Add(metadata.PersistenceId))
            {
                await FirstSaveAnswer.Task;
                throw new InvalidOperationException("the store lost its connection");
            }
            _saved[metadata.PersistenceId] = new SelectedSnapshot(metadata, snapshot);
        }

        protected override Task DeleteAsync(SnapshotMetadata metadata, CancellationToken cancellationToken = default) => Task.CompletedTask;

        protected override Task DeleteAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken = default) => Task.CompletedTask;
    }

    [Fact]
    public void A_failure_that_answers_a_save_given_up_on_does_not_cancel_the_next_snapshot()
    {
        var settings = new DeviceSettings(new WindowSettings(new WindowSpec(60_000, 10_000), 5_000),
            SnapshotAfterEvents: 1_000, SnapshotInterval: TimeSpan.FromMilliseconds(300),
            SnapshotTimeout: TimeSpan.FromMilliseconds(300));
        var partition = CreateTestProbe();
        partition.IgnoreMessages(m => m is WakeMeAt);
        var device = Sys.ActorOf(DeviceActor.Props("d", 0, settings, CreateTestProbe().Ref, new CollectorMetrics(), TimeProvider.System));

        // The first save is never answered in time: the device saves again after its timeout, and that one is stored.
        device.Tell(new DeviceEvents("d", 0, partition.Ref, "broker", [new PartitionEvent(7, long.MinValue, 1_000, 10)]) { Delivery = new Delivery(1, 1) });
        partition.ExpectMsg<DeviceAck>();
        Assert.Equal(7, partition.ExpectMsg<Covered>(TimeSpan.FromSeconds(10)).ThroughOffset);

        // A new change makes a snapshot due; then the first save's failure arrives, late.
        device.Tell(new DeviceEvents("d", 0, partition.Ref, "broker", [new PartitionEvent(8, long.MinValue, 2_000, 20)]) { Delivery = new Delivery(2, 2) });
        partition.ExpectMsg<DeviceAck>();
        FirstSaveAnswer.SetResult();

        var second = partition.ExpectMsg<Covered>(TimeSpan.FromSeconds(5));
        Assert.Equal((2L, 8L), (second.ThroughSeq, second.ThroughOffset));
    }
}
