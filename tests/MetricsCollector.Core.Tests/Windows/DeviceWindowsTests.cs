using MetricsCollector.Core.Digests;
using MetricsCollector.Core.Windows;

namespace MetricsCollector.Core.Tests.Windows;

/// <summary>60 s windows sliding by 10 s with 5 s of allowed lateness, to keep the numbers readable.</summary>
public sealed class DeviceWindowsTests
{
    private static readonly WindowSettings Settings = new(new WindowSpec(60_000, 10_000), allowedLatenessMs: 5_000);

    private static DeviceWindows NewDevice() => new("device-1", 0, Settings);

    private static List<WindowResult> Rows(DeviceWindows device, long now) => device.TakeResults(now).Select(p => p.Row).ToList();

    [Fact]
    public void Nothing_fires_before_the_watermark_reaches_an_end()
    {
        var device = NewDevice();
        Assert.Equal(EventTiming.OnTime, device.Add(1_000, 10, long.MinValue));
        device.Advance(9_999);
        Assert.Empty(Rows(device, 0));
    }

    [Fact]
    public void Every_window_holding_events_fires_once_the_watermark_reaches_its_end()
    {
        var device = NewDevice();
        device.Add(1_000, 10, long.MinValue);
        device.Add(2_000, 30, long.MinValue);
        device.Advance(60_000);

        var rows = Rows(device, 123);
        Assert.Equal([10_000L, 20_000, 30_000, 40_000, 50_000, 60_000], rows.Select(r => r.WindowEnd));
        Assert.All(rows, r =>
        {
            Assert.Equal(2, r.Count);
            Assert.Equal(10, r.Min);
            Assert.Equal(30, r.Max);
            Assert.Equal(20, r.Mean);
            Assert.Equal(1, r.Revision);
            // Windows whose end + lateness the watermark has already passed come out final at once.
            Assert.Equal(r.WindowEnd + 5_000 <= 60_000, r.Final);
            Assert.Equal(123, r.LastUpdated);
            Assert.Equal(r.WindowEnd - 60_000, r.WindowStart);
        });
        Assert.Empty(Rows(device, 124));
    }

    [Fact]
    public void Open_windows_are_those_not_fired_yet_with_their_events_so_far_and_reading_them_changes_nothing()
    {
        var device = new DeviceWindows("device-1", 3, Settings);
        Assert.Empty(device.OpenWindows(0));
        device.Add(1_000, 10, long.MinValue);
        device.Add(12_000, 30, long.MinValue);
        device.Add(25_000, 20, long.MinValue);
        device.Advance(20_000);
        Assert.Equal([10_000L, 20_000], device.TakeResults(0).Select(p => p.Row.WindowEnd));
        // A late event: the window ending at 20 s has a revision to write.
        Assert.Equal(EventTiming.Late, device.Add(15_000, 40, 20_000));
        var snapshot = device.ToSnapshot();

        var open = device.OpenWindows(777);
        // Ends 10 s and 20 s have fired; 30 s .. 80 s hold events, the last (pane 20-30 s) up to 80 s.
        Assert.Equal([30_000L, 40_000, 50_000, 60_000, 70_000, 80_000], open.Select(p => p.Row.WindowEnd));
        Assert.Equal([4L, 4, 4, 4, 3, 1], open.Select(p => p.Row.Count));
        Assert.All(open, p =>
        {
            Assert.Equal((3, 0, false, 777L), (p.Partition, p.Row.Revision, p.Row.Final, p.Row.LastUpdated));
            Assert.Equal(p.Row.Count, TDigest.FromBytes(p.Digest).Count);
        });
        Assert.Equal((25.0, 10.0, 40.0), (open[0].Row.Mean, open[0].Row.Min, open[0].Row.Max));
        Assert.Equal((20.0, 20.0), (open[^1].Row.Min, open[^1].Row.Max));

        // Nothing changed: the same state, the same rows to write, the same open windows.
        Assert.Equal(snapshot, device.ToSnapshot());
        Assert.Equal([(20_000L, 2)], device.TakeResults(0).Select(p => (p.Row.WindowEnd, p.Row.Revision)));
        Assert.Equal(open.Select(p => p.Row), device.OpenWindows(777).Select(p => p.Row));
    }

    [Fact]
    public void A_row_is_the_part_of_its_partition_and_carries_the_windows_digest()
    {
        var device = new DeviceWindows("device-1", 7, Settings);
        device.Add(1_000, 10, long.MinValue);
        device.Add(12_000, 30, long.MinValue);
        device.Advance(20_000);

        var parts = device.TakeResults(0);
        Assert.Equal([10_000L, 20_000], parts.Select(p => p.Row.WindowEnd));
        Assert.All(parts, p =>
        {
            Assert.Equal(7, p.Partition);
            var digest = TDigest.FromBytes(p.Digest);
            Assert.Equal((p.Row.Count, p.Row.Min, p.Row.Max, p.Row.Mean), (digest.Count, digest.Min, digest.Max, digest.Mean));
            Assert.Equal(p.Row.P95, digest.Quantile(0.95));
        });
    }

    [Fact]
    public void A_late_event_revises_fired_windows_and_counts_in_open_ones()
    {
        var device = NewDevice();
        device.Add(1_000, 10, long.MinValue);
        device.Advance(52_000);
        Rows(device, 0);

        // Judged by W = 52 000: windows ending 10 000..40 000 closed (end + 5 000 ≤ 52 000), 50 000 fired, 60 000 open.
        Assert.Equal(EventTiming.Late, device.Add(9_000, 50, 52_000));
        var rows = Rows(device, 1);
        Assert.Equal([50_000L], rows.Select(r => r.WindowEnd));
        Assert.Equal(2, rows[0].Revision);
        Assert.Equal(2, rows[0].Count);

        device.Advance(60_000);
        var fired = Rows(device, 2).Single(r => r.WindowEnd == 60_000);
        Assert.Equal(2, fired.Count);
        Assert.Equal(1, fired.Revision);
    }

    [Fact]
    public void Revisions_count_every_late_event_however_rarely_rows_are_taken()
    {
        var device = NewDevice();
        device.Add(55_000, 10, long.MinValue);
        device.Advance(60_000);
        Rows(device, 0);
        for (var i = 0; i < 4; i++) device.Add(56_000, 20 + i, 60_000);

        var row = Rows(device, 1).Single();
        Assert.Equal(60_000, row.WindowEnd);
        Assert.Equal(5, row.Revision);
        Assert.Equal(5, row.Count);
    }

    /// <summary>
    /// The partition keeps too-late events from devices; should one come anyway (a broken precondition
    /// of <see cref="DeviceWindows.Add"/>), it must not reach a row: not a closed one, and not a later
    /// one through the shared partial, which here spans its empty pane.
    /// </summary>
    [Fact]
    public void An_event_too_late_for_the_device_changes_no_row_even_where_the_shared_partial_spans_its_pane()
    {
        var device = NewDevice();
        var twin = NewDevice();
        foreach (var d in new[] { device, twin })
        {
            // 900 readings in panes 7-9 (70-100 s): the window ending at 100 s is the first big enough
            // for a shared partial, over panes 6-9; at 125 s every window holding pane 6 has closed.
            for (var i = 0; i < 900; i++) d.Add(70_000 + i * 33, i % 97, long.MinValue);
            d.Advance(125_000);
        }
        Assert.Equal(Rows(twin, 1), Rows(device, 1));

        device.Add(65_000, 1_000, 125_000);
        foreach (var d in new[] { device, twin }) d.Advance(200_000);

        Assert.Equal(Rows(twin, 2), Rows(device, 2));
        Assert.Equal(twin.PaneCount, device.PaneCount);
    }

    [Fact]
    public void Late_event_for_a_window_without_a_row_creates_it_at_revision_one()
    {
        var device = NewDevice();
        device.Add(65_000, 10, long.MinValue);
        device.Advance(61_000);
        Assert.Empty(Rows(device, 0));

        // W = 61 000: the window ending 60 000 fired empty; a 59 000 event is late for it.
        device.Add(59_000, 40, 61_000);
        var row = Rows(device, 1).Single();
        Assert.Equal(60_000, row.WindowEnd);
        Assert.Equal(1, row.Revision);
        Assert.Equal(1, row.Count);
    }

    [Fact]
    public void Windows_become_final_once_the_watermark_passes_end_plus_lateness()
    {
        var device = NewDevice();
        device.Add(55_000, 10, long.MinValue);
        device.Advance(60_000);
        Rows(device, 0);

        device.Advance(64_999);
        Assert.Empty(Rows(device, 1));
        device.Advance(65_000);
        var final = Rows(device, 2).Single();
        Assert.True(final.Final);
        Assert.Equal(1, final.Revision);
        Assert.Equal(60_000, final.WindowEnd);
        Assert.Equal(2, final.LastUpdated);
    }

    [Fact]
    public void A_jump_past_end_plus_lateness_gives_one_final_row_per_window()
    {
        var device = NewDevice();
        device.Add(1_000, 10, long.MinValue);
        device.Advance(1_000_000);
        var rows = Rows(device, 0);
        Assert.Equal(6, rows.Count);
        Assert.All(rows, r => Assert.True(r.Final && r.Revision == 1));
        Assert.True(device.IsEmpty);
    }

    [Fact]
    public void A_windows_first_row_says_so_whether_it_is_taken_on_firing_revised_or_already_final()
    {
        var device = NewDevice();
        device.Add(55_000, 10, long.MinValue);
        device.Advance(60_000);
        // Fired: its first row.
        Assert.Equal([(60_000L, 1, false, true)], FirstRows(device.TakeResults(1)));

        // Revised, then closed: neither is its first row.
        device.Add(56_000, 20, 60_000);
        Assert.Equal([(60_000L, 2, false, false)], FirstRows(device.TakeResults(2)));
        device.Advance(65_000);
        Assert.Equal([(60_000L, 2, true, false)], FirstRows(device.TakeResults(3)));

        // A window that fires and closes in one move of the watermark has one row, final and its first.
        device.Add(125_000, 30, 65_000);
        device.Advance(1_000_000);
        var jumped = FirstRows(device.TakeResults(4));
        Assert.Equal(11, jumped.Count);
        Assert.All(jumped, r => Assert.True(r.Final && r.First));

        // A window revised before its first row is taken: that row is still its first.
        var late = NewDevice();
        late.Add(55_000, 10, long.MinValue);
        late.Advance(60_000);
        late.Add(54_000, 20, 60_000);
        Assert.Equal([(60_000L, 2, false, true)], FirstRows(late.TakeResults(1)));

        static List<(long End, int Revision, bool Final, bool First)> FirstRows(IReadOnlyList<WindowPart> parts) =>
            parts.Select(p => (p.Row.WindowEnd, p.Row.Revision, p.Row.Final, p.FirstRow)).ToList();
    }

    [Fact]
    public void A_restored_window_does_not_make_another_first_row()
    {
        var device = NewDevice();
        device.Add(55_000, 10, long.MinValue);
        device.Advance(60_000);
        Assert.True(device.TakeResults(1).Single().FirstRow);
        device.Add(56_000, 20, 60_000);

        // The revision is pending when the snapshot is taken; after the restart it is not the window's first row.
        var restored = DeviceWindows.FromSnapshot("device-1", 0, Settings, device.ToSnapshot());
        var row = restored.TakeResults(2).Single();
        Assert.Equal(2, row.Row.Revision);
        Assert.False(row.FirstRow);
    }

    [Fact]
    public void Panes_are_dropped_when_the_last_window_using_them_closes()
    {
        var device = NewDevice();
        device.Add(1_000, 10, long.MinValue);
        device.Add(11_000, 10, long.MinValue);
        Assert.Equal(2, device.PaneCount);

        device.Advance(64_999);
        Assert.Equal(2, device.PaneCount);
        device.Advance(65_000);
        Assert.Equal(1, device.PaneCount);
        device.Advance(75_000);
        Assert.Equal(0, device.PaneCount);
    }

    [Fact]
    public void Next_wake_up_is_the_next_firing_or_closing()
    {
        var device = NewDevice();
        Assert.Equal(long.MaxValue, device.NextWakeUp());
        device.Add(1_000, 10, long.MinValue);
        Assert.Equal(10_000, device.NextWakeUp());
        device.Advance(10_000);
        Assert.Equal(15_000, device.NextWakeUp());
        device.Advance(12_000);
        Assert.Equal(15_000, device.NextWakeUp());
        device.Advance(15_000);
        Assert.Equal(20_000, device.NextWakeUp());
        device.Advance(60_000);
        Assert.Equal(65_000, device.NextWakeUp());
        device.Advance(65_000);
        Assert.Equal(long.MaxValue, device.NextWakeUp());
    }

    [Fact]
    public void A_restored_snapshot_carries_on_exactly_like_the_original()
    {
        var original = NewDevice();
        original.Add(1_000, 10, long.MinValue);
        original.Add(12_000, 20, long.MinValue);
        original.Advance(40_000);
        original.Add(3_000, 30, 40_000);
        Rows(original, 0);
        original.Add(4_000, 35, 40_000);

        var restored = DeviceWindows.FromSnapshot("device-1", 0, Settings, original.ToSnapshot());
        foreach (var device in new[] { original, restored })
        {
            device.Add(14_000, 40, 45_000);
            device.Advance(200_000);
        }
        Assert.Equal(Rows(original, 9), Rows(restored, 9));
    }

    [Fact]
    public void Snapshots_refuse_pending_rows_and_garbage()
    {
        var device = NewDevice();
        device.Add(1_000, 10, long.MinValue);
        device.Advance(1_000_000);
        Assert.Throws<InvalidOperationException>(() => device.ToSnapshot());
        Assert.Throws<FormatException>(() => DeviceWindows.FromSnapshot("d", 0, Settings, [9, 1, 2]));
        var good = NewDevice().ToSnapshot();
        Assert.Throws<FormatException>(() => DeviceWindows.FromSnapshot("d", 0, Settings, good[..^1]));
        Assert.Throws<FormatException>(() => DeviceWindows.FromSnapshot("d", 0, Settings, [1, .. good[1..]])); // version 1
    }

    [Fact]
    public void A_snapshot_takes_a_few_bytes_a_reading_and_refuses_panes_out_of_order()
    {
        // A reading a second for a minute: six panes of ten readings of three decimals.
        var device = NewDevice();
        var random = new Random(4);
        for (var t = 0; t < 60_000; t += 1_000) device.Add(t, Math.Round(random.NextDouble() * 100, 3), long.MinValue);
        var snapshot = device.ToSnapshot();

        // Per pane a step, a length, the digest's 20-byte head and the readings at two or three
        // bytes each (version 1 wrote about 120 bytes a pane: an 8-byte index, doubles' bits).
        Assert.InRange(snapshot.Length, 6 * 32, 6 * 52);
        var restored = DeviceWindows.FromSnapshot("device-1", 0, Settings, snapshot);
        Assert.Equal(snapshot, restored.ToSnapshot());

        // Version, watermark, pane count, the first pane's index (0) and length, its digest, then
        // the second pane's step (1): a step of 0 would give two panes one index.
        var second = 12 + snapshot[11];
        Assert.Equal(1, snapshot[second]);
        snapshot[second] = 0;
        Assert.Throws<FormatException>(() => DeviceWindows.FromSnapshot("d", 0, Settings, snapshot));
    }
}
