using CsCheck;
using MetricsCollector.Core.Time;
using MetricsCollector.Partitions;

namespace MetricsCollector.Tests.Partitions;

public sealed class CommitTrackerTests
{
    private static readonly IReadOnlyList<SideMark> Marks = [new SideMark("dlq", 0, 0)];

    private static CommitTracker Started(long offset = 0, long watermark = Watermark.Start, IReadOnlyDictionary<string, long>? timers = null, IReadOnlyList<WatermarkJump>? jumps = null)
    {
        var start = new PartitionProgress(offset, watermark, timers is null ? TimerDictionary.Empty : TimerDictionary.Of(timers), "cluster") { SideMarks = Marks, Jumps = jumps ?? [] };
        var tracker = new CommitTracker(start);
        tracker.TakeCheckpoint(watermark, Marks);
        return tracker;
    }

    /// <summary>Reads records <paramref name="from"/>..<paramref name="to"/> and takes a checkpoint after them.</summary>
    private static void Read(CommitTracker tracker, long from, long to, long watermark)
    {
        for (var offset = from; offset <= to; offset++) Assert.True(tracker.Read(offset));
        tracker.TakeCheckpoint(watermark, Marks);
    }

    private static PartitionProgress Commit(CommitTracker tracker, long? pendingSide = null, long watermark = Watermark.Start)
    {
        var due = tracker.Due(pendingSide, watermark) ?? throw new InvalidOperationException("nothing due");
        tracker.MarkSaved(due);
        return due.Progress;
    }

    [Fact]
    public void Commits_the_latest_checkpoint_below_every_uncovered_message_and_side_record()
    {
        var tracker = Started();
        Read(tracker, 0, 9, watermark: 100);
        tracker.Sent("a", seq: 1, position: 5, closesAbove: long.MaxValue);
        Read(tracker, 10, 19, watermark: 200);
        Read(tracker, 20, 29, watermark: 300);

        Assert.Equal(5, tracker.SafeOffset(null));
        Assert.Equal(0, tracker.Due(null, Watermark.Start)?.Progress.Offset ?? 0);

        tracker.Covered("a", throughSeq: 1, appliedOffset: 7);
        Assert.Equal(30, tracker.SafeOffset(null));
        Assert.Equal((20L, 200L), (tracker.Due(lowestPendingSide: 25, Watermark.Start)!.Progress.Offset, tracker.Due(lowestPendingSide: 25, Watermark.Start)!.Progress.Watermark));
        var committed = Commit(tracker);
        Assert.Equal((30L, 300L), (committed.Offset, committed.Watermark));
        Assert.Null(tracker.Due(null, Watermark.Start));
    }

    [Fact]
    public void A_partly_covered_device_holds_the_commit_just_past_what_its_snapshot_applied()
    {
        var tracker = Started();
        Read(tracker, 0, 9, watermark: 100);
        tracker.Sent("a", 1, position: 2, closesAbove: long.MaxValue);
        Read(tracker, 10, 19, watermark: 200);
        tracker.Sent("a", 2, position: 12, closesAbove: long.MaxValue);
        Read(tracker, 20, 29, watermark: 300);

        tracker.Covered("a", throughSeq: 1, appliedOffset: 11);
        Assert.Equal(12, tracker.SafeOffset(null));
        Assert.Equal(10, Commit(tracker).Offset);
        // An old report changes nothing.
        tracker.Covered("a", throughSeq: 1, appliedOffset: 11);
        Assert.Equal(12, tracker.SafeOffset(null));
    }

    [Fact]
    public void A_wake_up_is_uncovered_until_the_device_snapshots_it()
    {
        var tracker = Started();
        tracker.SetTimer("quiet", 150);
        Read(tracker, 0, 9, watermark: 100);
        Read(tracker, 10, 19, watermark: 200);
        Assert.Equal(["quiet"], tracker.TakeDue(200).Select(d => d.Device));
        tracker.Sent("quiet", 1, position: tracker.NextOffset, closesAbove: long.MaxValue);
        Read(tracker, 20, 29, watermark: 300);

        // The device fired its window but has not snapshotted: a replay must start at or before the wake-up.
        Assert.Equal(20, Commit(tracker).Offset);
        tracker.Covered("quiet", 1, appliedOffset: -1);
        Assert.Equal(30, Commit(tracker).Offset);
    }

    [Fact]
    public void A_checkpoint_keeps_the_timers_pending_when_it_was_taken_not_only_those_pending_at_commit()
    {
        // The crash window: a device is woken between the checkpoint and the commit. A replay from that
        // checkpoint starts below the watermark that woke it, and must wake it again.
        var tracker = Started();
        tracker.SetTimer("d", 150);
        Read(tracker, 0, 9, watermark: 100);
        tracker.Sent("busy", 1, position: 12, closesAbove: long.MaxValue);
        Read(tracker, 10, 19, watermark: 200);
        Assert.Equal(["d"], tracker.TakeDue(200).Select(d => d.Device));

        var progress = Commit(tracker);
        Assert.Equal(10, progress.Offset);
        Assert.Equal(200, progress.Timers["d"]);
    }

    [Fact]
    public void A_timer_fired_before_the_committed_checkpoint_is_not_kept()
    {
        var tracker = Started();
        tracker.SetTimer("d", 150);
        Read(tracker, 0, 9, watermark: 200);
        Assert.Equal(["d"], tracker.TakeDue(200).Select(d => d.Device));
        Read(tracker, 10, 19, watermark: 300);
        Assert.False(Commit(tracker).Timers.ContainsKey("d"));
    }

    [Fact]
    public void A_timer_set_again_after_it_fired_is_kept_at_the_earlier_time()
    {
        var tracker = Started();
        tracker.SetTimer("d", 150);
        Read(tracker, 0, 9, watermark: 100);
        tracker.Sent("busy", 1, position: 12, closesAbove: long.MaxValue);
        Read(tracker, 10, 19, watermark: 200);
        tracker.TakeDue(200);
        tracker.SetTimer("d", 500);
        Assert.Equal(200, Commit(tracker).Timers["d"]);
    }

    [Fact]
    public void An_idle_jump_is_due_at_once_and_carried_until_a_checkpoint_holds_it()
    {
        var tracker = Started();
        Read(tracker, 0, 9, watermark: 100);
        tracker.Sent("a", 1, position: 3, closesAbove: long.MaxValue);
        tracker.Jumped(5_000);

        var due = tracker.Due(null, Watermark.Start)!;
        Assert.Equal(0, due.Progress.Offset);
        Assert.Equal([new WatermarkJump(10, 5_000)], due.Progress.Jumps);
        tracker.MarkSaved(due);

        tracker.TakeCheckpoint(5_000, Marks);
        Read(tracker, 10, 19, watermark: 5_000);
        tracker.Covered("a", 1, 9);
        var committed = Commit(tracker);
        Assert.Equal((20L, 5_000L), (committed.Offset, committed.Watermark));
        Assert.Empty(committed.Jumps);
    }

    [Fact]
    public void A_later_jump_at_the_same_offset_replaces_the_earlier()
    {
        var tracker = Started();
        Read(tracker, 0, 9, watermark: 100);
        tracker.Jumped(5_000);
        tracker.Jumped(6_000);
        Assert.Equal([new WatermarkJump(10, 6_000)], tracker.Due(null, Watermark.Start)!.Progress.Jumps);
    }

    [Fact]
    public void Jumps_of_the_start_not_yet_reached_stay_in_every_progress_until_passed()
    {
        var jumps = new[] { new WatermarkJump(15, 5_000) };
        var tracker = Started(offset: 0, watermark: 100, jumps: jumps);
        Assert.Equal(jumps, tracker.JumpsAhead);
        Read(tracker, 0, 9, watermark: 200);
        Assert.Equal(jumps, Commit(tracker).Jumps);
        Read(tracker, 10, 19, watermark: 5_000);
        Assert.Empty(Commit(tracker).Jumps);
    }

    [Fact]
    public void Records_below_the_resume_point_are_not_taken()
    {
        var tracker = Started(offset: 10);
        Assert.False(tracker.Read(9));
        Assert.True(tracker.Read(10));
        Assert.Equal(11, tracker.NextOffset);
    }

    [Fact]
    public void Checkpoints_stay_bounded_while_commits_cannot_move_and_the_commit_still_lands_right()
    {
        var tracker = Started();
        tracker.Sent("stuck", 1, position: 0, closesAbove: long.MaxValue);
        for (var batch = 0; batch < 10_000; batch++) Read(tracker, batch * 10, batch * 10 + 9, watermark: batch);
        Assert.InRange(tracker.CheckpointCount, 2, 256);

        tracker.Covered("stuck", 1, 0);
        var committed = Commit(tracker);
        Assert.Equal((100_000L, 9_999L), (committed.Offset, committed.Watermark));
    }

    [Fact]
    public void Under_steady_load_the_commit_follows_a_safe_offset_that_lags_more_checkpoints_than_are_kept()
    {
        // A device always has its last 2,000 records (200 batches) unsnapshotted, as 10k devices snapshotting
        // every 15 s do under a steady stream: more checkpoints than the 64 kept lie between the safe offset
        // and the newest. Thinning must keep some near the safe offset, or the commit never moves.
        var tracker = new CommitTracker(new PartitionProgress(0, Watermark.Start, TimerDictionary.Empty, "cluster") { SideMarks = Marks }, maxCheckpoints: 64);
        tracker.TakeCheckpoint(Watermark.Start, Marks);
        long seq = 0, committed = 0;
        for (var batch = 0; batch < 5_000; batch++)
        {
            var first = batch * 10L;
            tracker.Sent("d", ++seq, position: first, closesAbove: long.MaxValue);
            Read(tracker, first, first + 9, watermark: batch);
            if (first >= 2_000) tracker.Covered("d", seq - 200, appliedOffset: first - 2_000 + 9);
            if (batch % 10 == 0 && tracker.Due(null, Watermark.Start) is { } due)
            {
                tracker.MarkSaved(due);
                committed = due.Progress.Offset;
            }

            Assert.InRange(tracker.CheckpointCount, 2, 64);
        }

        var safe = tracker.SafeOffset(null);
        Assert.Equal(48_000, safe);
        // Kept checkpoints spread over what is uncovered: the commit is within a few of their gaps of it.
        Assert.InRange(committed, safe - 2_000, safe);
    }

    [Fact]
    public void Nothing_is_due_when_a_replay_would_start_the_same_way()
    {
        var tracker = Started(offset: 5, watermark: 100);
        Assert.Null(tracker.Due(null, Watermark.Start));
        tracker.SetTimer("d", 300);
        Assert.Equal(300, tracker.Due(null, Watermark.Start)!.Progress.Timers["d"]);
    }

    [Fact]
    public void After_nothing_was_due_every_change_a_progress_holds_makes_one_due_again()
    {
        var tracker = Started(offset: 0, watermark: 100);
        Read(tracker, 0, 9, watermark: 100);
        tracker.SetTimer("d", 300);
        Commit(tracker, watermark: 100);
        Assert.Null(tracker.Due(null, 100));

        // A timer firing: the checkpoint carries it, at the watermark that fired it, until the device snapshots the wake-up.
        Assert.Single(tracker.TakeDue(350));
        Assert.Equal(350, tracker.Due(null, 100)!.Progress.Timers["d"]);
        Commit(tracker, watermark: 100);
        Assert.Null(tracker.Due(null, 100));
        tracker.SetTimer("e", 400);
        Assert.Equal(400, tracker.Due(null, 100)!.Progress.Timers["e"]);
        Commit(tracker, watermark: 100);
        Assert.Null(tracker.Due(null, 100));

        // An idle jump.
        tracker.Jumped(500);
        Assert.Contains(tracker.Due(null, 100)!.Progress.Jumps, j => j.Watermark == 500);
        Commit(tracker, watermark: 100);
        Assert.Null(tracker.Due(null, 100));

        // The safe offset passing a later checkpoint.
        tracker.Sent("d", 1, position: 10, closesAbove: long.MaxValue);
        Read(tracker, 10, 19, watermark: 100);
        Assert.Null(tracker.Due(null, 100));
        tracker.Covered("d", 1, 19);
        Assert.Equal(20, tracker.Due(null, 100)!.Progress.Offset);
        Commit(tracker, watermark: 100);

        // The stored watermark moving.
        Assert.Null(tracker.Due(null, 100));
        Assert.Equal(200, tracker.Due(null, 200)!.Progress.FinalThrough);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void The_safe_offset_and_the_stored_watermark_match_a_walk_over_every_uncovered_line(int seed)
    {
        // The tracker keeps both lowest values between questions; a plain model walks all lines each time.
        var random = new Random(seed);
        var tracker = Started();
        var lines = new Dictionary<string, (long FirstSeq, long LastSeq, long Position, long Closes)>();
        var seqs = new Dictionary<string, long>();
        long offset = 0;
        for (var step = 0; step < 5_000; step++)
        {
            var device = $"d{random.Next(40)}";
            if (random.Next(3) > 0)
            {
                Assert.True(tracker.Read(offset));
                var seq = seqs[device] = seqs.GetValueOrDefault(device) + 1;
                var closes = random.Next(4) == 0 ? long.MaxValue : 1_000 + random.Next(5_000);
                tracker.Sent(device, seq, offset, closes);
                lines[device] = lines.TryGetValue(device, out var line)
                    ? line with { LastSeq = seq, Closes = Math.Min(line.Closes, closes) }
                    : (seq, seq, offset, closes);
                offset++;
            }
            else if (lines.TryGetValue(device, out var line))
            {
                var through = line.FirstSeq + random.Next((int)(line.LastSeq - line.FirstSeq + 1));
                var applied = line.Position + random.Next(3);
                tracker.Covered(device, through, applied);
                if (through >= line.LastSeq) lines.Remove(device);
                else lines[device] = line with { FirstSeq = through + 1, Position = Math.Max(line.Position, applied + 1) };
            }

            Assert.Equal(lines.Values.Select(l => l.Position).Append(offset).Min(), tracker.SafeOffset(null));
            Assert.Equal(lines.Values.Select(l => l.Closes).Append(4_000).Min(), tracker.FinalThrough(4_000));
        }
    }

    [Fact]
    public void Stored_through_the_watermark_when_every_message_is_covered_and_held_below_what_an_uncovered_one_may_close()
    {
        var tracker = Started();
        Read(tracker, 0, 9, watermark: 1_000);
        Assert.Equal(1_000, tracker.FinalThrough(1_000));

        // A run whose first record is judged by 900 may close windows above 899; a wake-up asked for at 950 above 949.
        tracker.Sent("a", 1, position: 10, closesAbove: 899);
        tracker.Sent("b", 1, position: 10, closesAbove: 949);
        Assert.Equal(899, tracker.FinalThrough(1_000));
        tracker.Covered("a", 1, 10);
        Assert.Equal(949, tracker.FinalThrough(1_000));
        tracker.Covered("b", 1, -1);
        Assert.Equal(1_000, tracker.FinalThrough(1_000));
    }

    [Fact]
    public void The_stored_watermark_is_saved_when_it_moves_and_never_goes_back_even_in_a_replay()
    {
        var tracker = Started();
        Read(tracker, 0, 9, watermark: 1_000);
        var saved = Commit(tracker, watermark: 1_000);
        Assert.Equal(1_000, saved.FinalThrough);
        // Only the stored watermark moves: still due.
        Assert.Equal(2_000, tracker.Due(null, 2_000)!.Progress.FinalThrough);

        // A new actor replaying from an older checkpoint starts below it: what was saved stands.
        var replay = new CommitTracker(saved with { Watermark = 500 });
        replay.TakeCheckpoint(500, Marks);
        Assert.Equal(1_000, replay.FinalThrough(600));
    }

    [Fact]
    public void Commits_whose_timers_did_not_change_share_one_table_and_a_change_makes_a_new_one()
    {
        var tracker = Started();
        tracker.SetTimer("d", 150);
        Read(tracker, 0, 9, watermark: 100);
        var first = Commit(tracker);
        Read(tracker, 10, 19, watermark: 110);
        tracker.SetTimer("d", 150);
        var second = Commit(tracker);
        Assert.Equal(20, second.Offset);
        Assert.Same(first.Timers, second.Timers);

        tracker.SetTimer("e", 170);
        Read(tracker, 20, 29, watermark: 120);
        var third = Commit(tracker);
        Assert.NotSame(second.Timers, third.Timers);
        Assert.Equal(new Dictionary<string, long> { ["d"] = 150, ["e"] = 170 }, third.Timers.ToDictionary());
    }

    /// <summary>
    /// Random runs of reads, messages, snapshots, timers, wake-ups and commits: every progress the tracker builds
    /// holds exactly the timers of a model (those pending, and the earliest of those fired since its checkpoint),
    /// however many commits in a row share a table.
    /// </summary>
    [Fact]
    public void Every_commit_holds_the_timers_pending_at_its_checkpoint() =>
        Gen.Int.Sample(seed => TimerScenario(new Random(seed)), iter: 500, threads: 1);

    private static void TimerScenario(Random random)
    {
        var devices = Enumerable.Range(0, 1 + random.Next(6)).Select(i => $"d{i}").ToArray();
        var tracker = Started();
        var pending = new Dictionary<string, long>();
        var fired = new List<(long AfterCheckpoint, string Device, long Time)>();
        long checkpointId = 1, offset = 0, watermark = 0; // Started took checkpoint 0
        var seq = new Dictionary<string, long>();
        for (var step = 0; step < 60; step++)
        {
            switch (random.Next(6))
            {
                case 0:
                    var device = devices[random.Next(devices.Length)];
                    var time = random.Next(4) == 0 ? long.MaxValue : watermark + random.Next(1, 40);
                    tracker.SetTimer(device, time);
                    if (time == long.MaxValue) pending.Remove(device);
                    else pending[device] = time;
                    break;
                case 1:
                    var sender = devices[random.Next(devices.Length)];
                    seq[sender] = seq.GetValueOrDefault(sender) + 1;
                    tracker.Sent(sender, seq[sender], position: offset, closesAbove: long.MaxValue);
                    break;
                case 2:
                    var covered = devices[random.Next(devices.Length)];
                    tracker.Covered(covered, seq.GetValueOrDefault(covered), appliedOffset: offset - 1);
                    break;
                case 3:
                    watermark += random.Next(0, 15);
                    foreach (var (due, _) in tracker.TakeDue(watermark))
                    {
                        pending.Remove(due);
                        fired.Add((checkpointId - 1, due, watermark));
                    }
                    break;
                case 4:
                    var records = random.Next(1, 5);
                    for (var r = 0; r < records; r++) tracker.Read(offset++);
                    tracker.TakeCheckpoint(watermark, Marks);
                    checkpointId++;
                    break;
                default:
                    if (tracker.Due(null, watermark) is not { } progress) break;
                    var expected = new Dictionary<string, long>(pending);
                    foreach (var (after, firedDevice, firedAt) in fired)
                    {
                        if (after < progress.CheckpointId) continue;
                        if (!expected.TryGetValue(firedDevice, out var at) || firedAt < at) expected[firedDevice] = firedAt;
                    }
                    Assert.Equal(expected.OrderBy(t => t.Key), progress.Progress.Timers.OrderBy(t => t.Key));
                    if (random.Next(3) > 0) tracker.MarkSaved(progress);
                    break;
            }
        }
    }
}
