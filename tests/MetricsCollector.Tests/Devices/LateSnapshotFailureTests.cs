namespace MetricsCollector.Tests.Devices;

/// <summary>
/// A snapshot store that answers a device's first save only when the test says so, with a failure: as
/// one did after a store outage, long after the device had given up on it and saved again. That late
/// answer must not cost the device the snapshot its next changes are due.
/// </summary>
public sealed class LateSnapshotFailureTests() : ScriptedSnapshotTestKit(ScriptedSnapshotStore.ConfigFor<LateFailingSnapshotStore>())
{
    // One test in this class, so one device and one first save.
    private static readonly TaskCompletionSource FirstSaveAnswer = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Fails the first save once <see cref="FirstSaveAnswer"/> is set.</summary>
    public sealed class LateFailingSnapshotStore : ScriptedSnapshotStore
    {
        protected override async Task FirstSaveAsync(CancellationToken ct)
        {
            await FirstSaveAnswer.Task;
            throw new InvalidOperationException("the store lost its connection");
        }
    }

    [Fact]
    public void A_failure_that_answers_a_save_given_up_on_does_not_cancel_the_next_snapshot()
    {
        var partition = FirstSaveGivenUpOnThenChanged();

        FirstSaveAnswer.SetResult();

        AssertCovered(partition, 2, 8, TimeSpan.FromSeconds(5));
    }
}
