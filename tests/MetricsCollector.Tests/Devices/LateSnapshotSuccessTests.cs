using Akka.Actor;
using MetricsCollector.Devices;

namespace MetricsCollector.Tests.Devices;

/// <summary>
/// A snapshot store that answers a device's first save only when the test says so, with success: long
/// after the device had given up on it, saved again, and begun saving a newer snapshot. Taken for the
/// newer one, that late answer would have the device report as covered changes no snapshot holds yet,
/// and its partition commit past them.
/// </summary>
public sealed class LateSnapshotSuccessTests() : ScriptedSnapshotTestKit(ScriptedSnapshotStore.ConfigFor<LateSucceedingSnapshotStore>())
{
    // One test in this class, so one device and one first save.
    private static readonly TaskCompletionSource FirstSaveAnswer = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private static readonly TaskCompletionSource ThirdSaveBegun = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Stores the first save once <see cref="FirstSaveAnswer"/> is set, the second at once, and never answers the rest.</summary>
    public sealed class LateSucceedingSnapshotStore : ScriptedSnapshotStore
    {
        protected override Task FirstSaveAsync(CancellationToken ct) => FirstSaveAnswer.Task;

        protected override Task LaterSaveAsync(int number, CancellationToken ct)
        {
            if (number == 2) return Task.CompletedTask;
            ThirdSaveBegun.TrySetResult();
            return Task.Delay(Timeout.Infinite, ct);
        }
    }

    [Fact]
    public async Task A_late_success_of_a_save_given_up_on_is_not_taken_for_a_newer_snapshot()
    {
        var partition = Partition(acks: true);
        var device = Device("d", Settings(1_000, TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(300)));

        // The first save is not answered in time: the device saves again after its timeout, and that one is stored.
        device.Tell(Event("d", partition.Ref, seq: 1, offset: 7, time: 1_000, value: 10));
        partition.ExpectMsg<DeviceAck>();
        AssertCovered(partition, 1, 7, TimeSpan.FromSeconds(10));

        // A new change, whose snapshot the store never answers; meanwhile the first save succeeds, late.
        device.Tell(Event("d", partition.Ref, seq: 2, offset: 8, time: 2_000, value: 20));
        partition.ExpectMsg<DeviceAck>();
        await ThirdSaveBegun.Task.WaitAsync(TimeSpan.FromSeconds(5));
        FirstSaveAnswer.SetResult();

        await partition.ExpectNoMsgAsync(TimeSpan.FromSeconds(1.5));
    }
}
