using MetricsCollector.Core.Tests.Windows;
using MetricsCollector.Core.Time;

namespace MetricsCollector.Core.Tests.Time;

public sealed class WatermarkTests
{
    [Fact]
    public void Each_record_is_judged_by_the_watermark_before_it()
    {
        var clock = new ManualClock();
        var w = new Watermark(5_000, 30_000, clock);

        Assert.Equal(Watermark.Start, w.Observe(100_000));
        Assert.Equal(95_000, w.Current);
        Assert.Equal(95_000, w.Observe(120_000));
        Assert.Equal(115_000, w.Current);
    }

    [Fact]
    public void Out_of_order_records_never_move_it_back()
    {
        var w = new Watermark(5_000, 30_000, new ManualClock());
        w.Observe(100_000);
        w.Observe(10_000);
        Assert.Equal(95_000, w.Current);
    }

    [Fact]
    public void An_idle_partition_moves_up_to_wall_clock_minus_the_bound()
    {
        var clock = new ManualClock { Now = 1_000_000 };
        var w = new Watermark(5_000, 30_000, clock);
        w.Observe(500_000);

        clock.Now = 1_029_999;
        Assert.Null(w.IdleTarget());
        Assert.Equal(495_000, w.Current);

        clock.Now = 1_030_000;
        Assert.Equal(1_025_000, w.IdleTarget());
        // Only a jump moves it: the partition makes the target durable first.
        Assert.Equal(495_000, w.Current);
        w.JumpTo(1_025_000);
        Assert.Equal(1_025_000, w.Current);
    }

    [Fact]
    public void The_idle_rule_never_moves_it_down()
    {
        var clock = new ManualClock { Now = 0 };
        var w = new Watermark(5_000, 30_000, clock);
        w.Observe(10_000_000);
        clock.Now = 100_000;
        Assert.Null(w.IdleTarget());
        Assert.Equal(9_995_000, w.Current);
    }

    [Fact]
    public void A_partition_that_never_received_anything_goes_idle_from_its_creation()
    {
        var clock = new ManualClock { Now = 50_000 };
        var w = new Watermark(5_000, 30_000, clock);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(80_000), w.IdleDeadline);
        clock.Now = 80_000;
        Assert.Equal(75_000, w.IdleTarget());
    }

    [Fact]
    public void Activity_postpones_idleness()
    {
        var clock = new ManualClock { Now = 0 };
        var w = new Watermark(5_000, 30_000, clock);
        clock.Now = 20_000;
        w.Observe(1_000);
        clock.Now = 40_000;
        Assert.Null(w.IdleTarget());
        clock.Now = 50_000;
        Assert.Equal(45_000, w.IdleTarget());
    }

    [Fact]
    public void A_jump_never_moves_it_down_and_is_not_activity()
    {
        var clock = new ManualClock { Now = 0 };
        var w = new Watermark(5_000, 30_000, clock);
        w.Observe(100_000);
        w.JumpTo(50_000);
        Assert.Equal(95_000, w.Current);
        clock.Now = 29_000;
        w.JumpTo(200_000);
        Assert.Equal(200_000, w.Current);
        // The idle period started with the record at 0 ms and goes on through the jump.
        clock.Now = 30_000;
        Assert.Null(w.IdleTarget());
        clock.Now = 206_000;
        Assert.Equal(201_000, w.IdleTarget());
    }
}
