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
        Assert.False(w.AdvanceIfIdle());
        Assert.Equal(495_000, w.Current);

        clock.Now = 1_030_000;
        Assert.True(w.AdvanceIfIdle());
        Assert.Equal(1_025_000, w.Current);
    }

    [Fact]
    public void The_idle_rule_never_moves_it_down()
    {
        var clock = new ManualClock { Now = 0 };
        var w = new Watermark(5_000, 30_000, clock);
        w.Observe(10_000_000);
        clock.Now = 100_000;
        Assert.False(w.AdvanceIfIdle());
        Assert.Equal(9_995_000, w.Current);
    }

    [Fact]
    public void A_partition_that_never_received_anything_goes_idle_from_its_creation()
    {
        var clock = new ManualClock { Now = 50_000 };
        var w = new Watermark(5_000, 30_000, clock);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(80_000), w.IdleDeadline);
        clock.Now = 80_000;
        Assert.True(w.AdvanceIfIdle());
        Assert.Equal(75_000, w.Current);
    }

    [Fact]
    public void Activity_postpones_idleness()
    {
        var clock = new ManualClock { Now = 0 };
        var w = new Watermark(5_000, 30_000, clock);
        clock.Now = 20_000;
        w.Observe(1_000);
        clock.Now = 40_000;
        Assert.False(w.AdvanceIfIdle());
        clock.Now = 50_000;
        Assert.True(w.AdvanceIfIdle());
    }
}
