using System.Text;
using Akka.TestKit.Xunit2;
using Confluent.Kafka;
using MetricsCollector.Devices;
using MetricsCollector.Kafka;
using MetricsCollector.Kafka.Consumer;
using MetricsCollector.Partitions;
using MetricsCollector.ReadSide;
using static MetricsCollector.Tests.Partitions.PartitionHarness;

namespace MetricsCollector.Tests.Partitions;

/// <summary>
/// The partition actor with Akka's TestKit, between probes for its stream and its devices, with side
/// topics and checkpoints in memory: no broker, no store. What goes through Kafka end to end is tested
/// in the Kafka and end-to-end tests.
/// </summary>
public sealed class PartitionActorTests : TestKit
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);

    [Fact]
    public void A_wrong_device_clock_goes_to_the_dead_letter_topic_and_every_later_record_is_counted()
    {
        var h = new PartitionHarness(this);
        h.Start();
        var records = new List<KafkaRecord> { Record(0, Event("liar", 253_402_300_799_999), appended: T0) };
        records.AddRange(Enumerable.Range(1, 1_000).Select(i => Record(i, Event($"d{i % 10}", T0 + i * 1_000), T0 + i * 1_000)));
        h.FeedAndAck(records);

        var runs = Enumerable.Range(0, 10).Select(_ => h.ToDevice<DeviceEvents>()).ToList();
        Assert.Equal(1_000, runs.Sum(r => 1 + r.Rest.Length));
        Assert.Equal(0, h.Context.Metrics.TooLate);
        var dead = Assert.Single(h.Sides.Sent);
        Assert.Equal(("timestamp-in-future", 0L), (dead.Reason, dead.SourceOffset));
        // The watermark followed the ordinary records only.
        Assert.Equal(T0 + 1_000_000 - 5 * Minute, h.TopN.FishForMessage<PartitionWatermark>(_ => true).Watermark);
    }

    [Fact]
    public void A_record_without_a_value_is_dead_lettered_as_empty()
    {
        var h = new PartitionHarness(this);
        h.Start();
        h.FeedAndAck([Record(0, (string?)null), Record(1, Event("d", T0), T0)]);
        h.ToDevice<DeviceEvents>();
        AwaitAssert(() => Assert.Equal("empty", Assert.Single(h.Sides.Sent).Reason));
    }

    [Fact]
    public void A_judged_record_s_bytes_go_back_to_the_consumer_but_a_diverted_one_s_stay_with_its_side_topic()
    {
        var pool = new RecordBytePool();
        var h = new PartitionHarness(this, c => c with { RecordBytes = pool });
        h.Start();
        var invalid = Copy(pool, Encoding.UTF8.GetBytes("""{"deviceId":"d","timestamp":"soon","cpuUsage":1}"""));
        var valid = Copy(pool, Encoding.UTF8.GetBytes(Event("d", T0)));
        h.FeedAndAck([Record(0, invalid, T0), Record(1, valid, T0)]);
        h.ToDevice<DeviceEvents>();
        AwaitAssert(() => Assert.Single(h.Sides.Sent));

        // The next records of both lengths: the valid record's array is filled again, the diverted one's is not.
        Assert.Same(valid, Copy(pool, new byte[valid.Length]));
        Assert.NotSame(invalid, Copy(pool, new byte[invalid.Length]));
        Assert.Equal("""{"deviceId":"d","timestamp":"soon","cpuUsage":1}"""u8.ToArray(), Assert.Single(h.Sides.Sent).Value);
    }

    private static byte[] Copy(RecordBytePool pool, byte[] data) =>
        pool.Deserialize(data, isNull: false, new SerializationContext(MessageComponentType.Value, "input"))!;

    [Fact]
    public void A_record_too_large_for_its_side_topic_goes_there_cut_and_the_partition_commits_past_it()
    {
        var h = new PartitionHarness(this);
        // The topic takes at most 100 kB, as a broker's max.message.bytes would.
        h.Sides.Refuse = (_, value) => value.Length > 100_000 ? new KafkaException(ErrorCode.MsgSizeTooLarge) : null;
        h.Start();
        var huge = Encoding.UTF8.GetBytes(new string('x', 1_100_000));
        h.FeedAndAck([Record(0, huge, T0), Record(1, Event("d", T0), T0)]);
        var run = h.ToDevice<DeviceEvents>();

        AwaitAssert(() =>
        {
            var dead = Assert.Single(h.Sides.Sent);
            Assert.Equal(("too-large", (int?)1_100_000), (dead.Reason, dead.OriginalSize));
            Assert.InRange(dead.Value.Length, 50_000, 100_000);
            Assert.Equal(huge[..dead.Value.Length], dead.Value);
        });
        h.Covered(run, appliedOffset: 1);
        AwaitAssert(() => Assert.Equal(2, h.Progress.Last?.Offset));
    }

    [Fact]
    public void A_side_topic_that_keeps_failing_holds_commits_back_says_so_and_lets_go_when_it_answers()
    {
        var heldBack = new List<bool>();
        var h = new PartitionHarness(this, c => c with { HeldBackChanged = b => { lock (heldBack) heldBack.Add(b); } });
        var refuse = true;
        h.Sides.Refuse = (_, _) => Volatile.Read(ref refuse) ? new KafkaException(ErrorCode.TopicAuthorizationFailed) : null;
        h.Start();
        h.FeedAndAck([Record(0, "not json", T0), Record(1, Event("d", T0), T0)]);
        h.Covered(h.ToDevice<DeviceEvents>(), appliedOffset: 1);

        AwaitAssert(() => Assert.Equal([true], heldBack.ToList()));
        Thread.Sleep(Quiet);
        Assert.True((h.Progress.Last?.Offset ?? 0) == 0, "no commit may pass a side record that is not in its topic");

        Volatile.Write(ref refuse, false);
        AwaitAssert(() => Assert.Equal(2, h.Progress.Last?.Offset), TimeSpan.FromSeconds(5));
        Assert.Equal([true, false], heldBack.ToList());
    }

    [Fact]
    public void A_commit_held_by_a_device_whose_snapshot_never_comes_is_reported_naming_that_device_and_its_end_too()
    {
        var h = new PartitionHarness(this, c => c with { CommitStallWarning = TimeSpan.FromMinutes(1) });
        h.Start();
        h.FeedAndAck([Record(0, Event("quick", T0), T0), Record(1, Event("stuck", T0), T0), Record(2, Event("quick", T0 + 1_000), T0 + 1_000)]);
        var first = h.ToDevice<DeviceEvents>();
        var second = h.ToDevice<DeviceEvents>();
        var (quick, stuck) = first.DeviceId == "quick" ? (first, second) : (second, first);
        h.Covered(quick, appliedOffset: 2);
        Thread.Sleep(Quiet);

        // A minute on the partition's clock, then its next commit tick notices.
        EventFilter.Warning(contains: "stuck messages 1-1 from offset 1").ExpectOne(TimeSpan.FromSeconds(5), () => Interlocked.Add(ref h.Clock.Now, 60_000));
        Assert.Equal(0, h.Progress.Last?.Offset ?? 0);

        EventFilter.Info(contains: "the commit moves again").ExpectOne(TimeSpan.FromSeconds(5), () => h.Covered(stuck, appliedOffset: 1));
        Assert.Equal(3, h.Progress.Last?.Offset);
    }

    [Fact]
    public void A_device_sent_nothing_for_passivate_after_is_asked_to_leave_memory_and_a_busy_one_is_not()
    {
        // The shard cannot tell: the partition sends straight to devices it knows, past the shard.
        var h = new PartitionHarness(this, c => c with { PassivateAfter = TimeSpan.FromSeconds(2) });
        h.Start();
        h.FeedAndAck([Record(0, Event("idle", T0), T0), Record(1, Event("busy", T0), T0)]);
        h.ToDevice<DeviceEvents>();
        h.ToDevice<DeviceEvents>();
        // The acknowledgements are heard at this clock time, before it moves.
        Thread.Sleep(Quiet);

        Interlocked.Add(ref h.Clock.Now, 1_500);
        h.FeedAndAck([Record(2, Event("busy", T0 + 1_000), T0)]);
        h.ToDevice<DeviceEvents>();
        h.Devices.ExpectNoMsg(TimeSpan.FromSeconds(1));

        // 2.5 s since the idle device heard from its partition, 1 s since the busy one did.
        Interlocked.Add(ref h.Clock.Now, 1_000);
        h.Devices.ExpectMsg<PassivateDevice>(TimeSpan.FromSeconds(3));
        h.Devices.ExpectNoMsg(TimeSpan.FromSeconds(1));
    }

    [Fact]
    public void Intake_pauses_while_pending_side_records_are_over_their_bound_and_resumes_by_itself()
    {
        var h = new PartitionHarness(this, c => c with { Sides = c.Sides with { MaxPendingBytes = 50, FirstRetry = TimeSpan.FromMilliseconds(200) } });
        var refuse = true;
        h.Sides.Refuse = (_, _) => Volatile.Read(ref refuse) ? new KafkaException(ErrorCode.Local_Transport) : null;
        h.Start();
        h.Feed(Enumerable.Range(0, 10).Select(i => Record(i, $"bad record {i}", T0)).ToList());
        h.Stream.ExpectNoMsg(Quiet);

        Volatile.Write(ref refuse, false);
        h.Stream.ExpectMsg<StreamAck>(TimeSpan.FromSeconds(5));
        AwaitAssert(() => Assert.Equal(10, h.Sides.Sent.Count));
    }

    [Fact]
    public void Intake_pauses_while_the_result_writer_is_full()
    {
        var backlog = new WriteBacklog(limit: 10);
        var h = new PartitionHarness(this, c => c with { Backlog = backlog });
        h.Start();
        backlog.Set(10);
        h.Feed(Events("d", (0, T0)));
        h.ToDevice<DeviceEvents>();
        h.Stream.ExpectNoMsg(Quiet);
        backlog.Set(3);
        // Woken by the writer, well within the idle check's second.
        h.Stream.ExpectMsg<StreamAck>(TimeSpan.FromMilliseconds(500));
    }

    [Fact]
    public void An_idle_jump_is_saved_before_the_records_after_it_are_judged_and_they_are_judged_by_it()
    {
        var h = new PartitionHarness(this);
        var saves = new TaskCompletionSource();
        h.Start();
        h.FeedAndAck(Events("d", (0, T0)));
        h.Covered(h.ToDevice<DeviceEvents>(), 0);
        h.Consumer.LogEnd = 1;
        AwaitAssert(() => Assert.Equal(1, h.Progress.Last?.Offset));

        // Idle: the next save (the jump's) hangs until the test lets it through.
        h.Progress.Hold = _ => saves.Task;
        h.Clock.Now += 31_000;
        var jumpTo = h.Clock.Now - 5 * Minute;
        // Too late under the jump, counted under the watermark before it.
        var record = Record(1, Event("d", T0 + 1_000), T0 + 1_000);
        Thread.Sleep(TimeSpan.FromSeconds(1.5));
        h.Feed([record]);
        h.Stream.ExpectNoMsg(Quiet);
        Assert.Empty(h.Sides.Sent);

        saves.SetResult();
        h.Stream.ExpectMsg<StreamAck>(TimeSpan.FromSeconds(5));
        AwaitAssert(() => Assert.Equal(("too-late", 1L), (Assert.Single(h.Sides.Sent).Reason, h.Sides.Sent.Single().SourceOffset)));
        Assert.Contains(h.Progress.Saves, p => p.Offset == 1 && p.Jumps.SequenceEqual([new WatermarkJump(1, jumpTo)]));
    }

    [Fact]
    public void A_replay_makes_a_saved_jump_again_before_the_record_at_its_offset()
    {
        var h = new PartitionHarness(this);
        var start = PartitionProgress.Beginning("cluster") with { Offset = 5, Watermark = T0, SideMarks = [new SideMark(DeadLetter, 1, 0), new SideMark(TooLate, 1, 0)], Jumps = [new WatermarkJump(6, T0 + 60 * Minute)] };
        h.Start(start);
        // Offset 5 is judged by the checkpoint's watermark, 6 by the jump.
        h.FeedAndAck([Record(5, Event("d", T0 - Minute), T0), Record(6, Event("d", T0 - Minute), T0)]);
        var run = h.ToDevice<DeviceEvents>();
        Assert.Equal([(5L, T0)], new[] { run.First }.Concat(run.Rest).Select(e => (e.Offset, e.JudgedBy)));
        AwaitAssert(() => Assert.Equal(6L, Assert.Single(h.Sides.Sent).SourceOffset));
    }

    [Fact]
    public void A_device_woken_between_a_checkpoint_and_the_commit_is_woken_again_by_a_replay_from_it()
    {
        var h = new PartitionHarness(this);
        h.Start();
        h.FeedAndAck(Events("quiet", (0, T0)));
        var quiet = h.ToDevice<DeviceEvents>();
        h.Actor.Tell(new WakeMeAt("quiet", T0 + Minute), quiet.PartitionActor);
        h.Covered(quiet, 0);
        // A busy device holds the commit at its first record while the watermark passes the quiet one's timer.
        h.FeedAndAck(Events("busy", (1, T0 + 10 * Minute)));
        var busy = h.ToDevice<DeviceEvents>();
        var wake = h.ToDevice<AdvanceWatermark>();
        Assert.Equal("quiet", wake.DeviceId);

        h.Covered(busy, 1);
        AwaitAssert(() => Assert.Contains(h.Progress.Saves, p => p.Offset == 2));
        // The checkpoint at 2 was taken before the watermark it holds woke the quiet device: a replay
        // from it must wake the device again, which may not have snapshotted what the wake-up fired.
        Assert.True(h.Progress.Saves.Last(p => p.Offset == 2).Timers.ContainsKey("quiet"), "the quiet device's timer was lost from the checkpoint");

        // Nor does the commit pass the wake-up until the device has snapshotted it.
        h.FeedAndAck(Events("busy", (2, T0 + 10 * Minute + 1)));
        h.Covered(h.ToDevice<DeviceEvents>(), 2);
        Thread.Sleep(Quiet);
        Assert.DoesNotContain(h.Progress.Saves, p => p.Offset > 2);
        h.Covered(wake, 0);
        AwaitAssert(() => Assert.Equal(3, h.Progress.Last?.Offset));
        Assert.False(h.Progress.Last!.Timers.ContainsKey("quiet"));
    }

    [Fact]
    public void A_device_that_lost_acknowledged_state_makes_the_partition_end_to_be_read_again_from_its_commit()
    {
        var h = new PartitionHarness(this);
        h.Start();
        h.FeedAndAck(Events("d", (0, T0), (1, T0 + 1)));
        h.ToDevice<DeviceEvents>();
        h.FeedAndAck(Events("other", (2, T0 + 2)));
        var other = h.ToDevice<DeviceEvents>();

        h.Actor.Tell(new DeviceLostState("d"), TestActor);
        var end = h.Ended();
        Assert.True(end.ReadAgain);
        Assert.Equal(0, end.Committed);
        h.Covered(other, 2);
        Assert.DoesNotContain(h.Progress.Saves, p => p.Offset > 0);
    }

    [Fact]
    public void A_partition_actor_that_fails_ends_to_be_read_again_instead_of_hanging()
    {
        var h = new PartitionHarness(this);
        h.Start();
        h.Progress.Hold = _ => throw new InvalidOperationException("a store that throws instead of failing its task");
        h.FeedAndAck(Events("d", (0, T0)));
        h.Covered(h.ToDevice<DeviceEvents>(), 0);
        var end = h.Ended();
        Assert.True(end.ReadAgain);
        Assert.Contains("a store that throws", end.Why);
    }

    [Fact]
    public void A_replaced_log_ends_the_partition_at_once_without_a_commit()
    {
        var h = new PartitionHarness(this);
        h.Start();
        h.FeedAndAck(Events("d", (0, T0)));
        h.Context.Abandoned.TrySetResult();
        var end = h.Ended();
        Assert.True(end.ReadAgain);
        Assert.DoesNotContain(h.Progress.Saves, p => p.Offset > 0);
    }

    [Fact]
    public void A_revoked_partition_hands_over_after_its_devices_snapshot()
    {
        var h = new PartitionHarness(this);
        h.Start();
        h.FeedAndAck(Events("d", (0, T0)));
        h.ToDevice<DeviceEvents>();
        h.Context.Revoked.TrySetResult();
        var flush = h.ToDevice<FlushDevice>();
        h.Covered(flush, 0);
        var end = h.Ended();
        Assert.False(end.ReadAgain);
        Assert.Equal(1, end.Committed);
    }

    [Fact]
    public void Messages_go_straight_to_a_device_that_acknowledged_and_through_the_region_again_once_it_stops()
    {
        var h = new PartitionHarness(this);
        h.Start();
        var device = CreateTestProbe();
        h.FeedAndAck(Events("d", (0, T0)));
        var first = h.Devices.ExpectMsg<DeviceEvents>(TimeSpan.FromSeconds(10));
        h.Actor.Tell(new DeviceAck("d", first.Delivery.Seq), device.Ref);

        h.FeedAndAck(Events("d", (1, T0 + 1)));
        var second = device.ExpectMsg<DeviceEvents>(TimeSpan.FromSeconds(10));
        h.Devices.ExpectNoMsg(Quiet);

        // Passivated or handed off before it acknowledged the second: the region starts it again and gets it.
        Sys.Stop(device.Ref);
        var again = h.Devices.ExpectMsg<DeviceEvents>(TimeSpan.FromSeconds(10));
        Assert.Equal(second.Delivery.Seq, again.Delivery.Seq);
        Assert.Equal((second.First, second.Rest), (again.First, again.Rest));
    }
}
