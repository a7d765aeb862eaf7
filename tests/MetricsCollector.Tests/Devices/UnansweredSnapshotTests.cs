using Akka.Actor;

namespace MetricsCollector.Tests.Devices;

/// <summary>
/// A snapshot store that leaves the first save of every device unanswered, as one was seen to after a
/// store outage: the device must not wait for it for good, or its partition never commits again.
/// </summary>
public sealed class UnansweredSnapshotTests() : ScriptedSnapshotTestKit(ScriptedSnapshotStore.ConfigFor<ForgetfulSnapshotStore>())
{
    public sealed class ForgetfulSnapshotStore : ScriptedSnapshotStore
    {
        protected override Task FirstSaveAsync(CancellationToken ct) => new TaskCompletionSource().Task;
    }

    [Fact]
    public void A_save_the_store_never_answers_is_made_again_and_the_partition_hears_it_covered()
    {
        var partition = Partition();
        var device = Device("d", Settings(1, TimeSpan.FromMinutes(1), TimeSpan.FromMilliseconds(500)));

        device.Tell(Event("d", partition.Ref, seq: 1, offset: 7, time: 1_000, value: 10));

        AssertCovered(partition, 1, 7, TimeSpan.FromSeconds(10));
    }
}
