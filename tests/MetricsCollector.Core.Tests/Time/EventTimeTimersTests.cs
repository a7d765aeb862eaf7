using MetricsCollector.Core.Time;

namespace MetricsCollector.Core.Tests.Time;

public sealed class EventTimeTimersTests
{
    [Fact]
    public void Due_keys_come_out_once_in_time_order()
    {
        var timers = new EventTimeTimers<string>();
        timers.Set("b", 200);
        timers.Set("a", 100);
        timers.Set("c", 300);

        Assert.Equal(["a", "b"], timers.TakeDue(250));
        Assert.Empty(timers.TakeDue(250));
        Assert.Equal(["c"], timers.TakeDue(300));
        Assert.Equal(0, timers.Count);
    }

    [Fact]
    public void A_new_request_replaces_the_old_one()
    {
        var timers = new EventTimeTimers<string>();
        timers.Set("a", 100);
        timers.Set("a", 500);
        Assert.Empty(timers.TakeDue(400));
        Assert.Equal(["a"], timers.TakeDue(500));

        timers.Set("b", 500);
        timers.Set("b", 100);
        Assert.Equal(["b"], timers.TakeDue(100));
        Assert.Empty(timers.TakeDue(1_000));
    }

    [Fact]
    public void Max_value_cancels()
    {
        var timers = new EventTimeTimers<string>();
        timers.Set("a", 100);
        timers.Set("a", long.MaxValue);
        Assert.Empty(timers.TakeDue(long.MaxValue - 1));
        Assert.Equal(0, timers.Count);
    }
}
