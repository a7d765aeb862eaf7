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
        var partition = FirstSaveGivenUpOnThenChanged();

        // The store never answers the newer snapshot's save; meanwhile the first save succeeds, late.
        await ThirdSaveBegun.Task.WaitAsync(TimeSpan.FromSeconds(5));
        FirstSaveAnswer.SetResult();

        await partition.ExpectNoMsgAsync(TimeSpan.FromSeconds(1.5));
    }
}
