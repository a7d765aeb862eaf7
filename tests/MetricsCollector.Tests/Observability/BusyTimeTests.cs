using MetricsCollector.Observability;

namespace MetricsCollector.Tests.Observability;

/// <summary>How <see cref="CollectorMetrics.Time"/> charges actors' CPU: heavy messages each, small ones by sample.</summary>
public sealed class BusyTimeTests
{
    [Fact]
    public void Every_heavy_message_is_charged_with_the_cpu_it_took()
    {
        using var metrics = new CollectorMetrics();
        var spun = TimeSpan.Zero;
        for (var i = 0; i < 5; i++)
        {
            var began = ThreadCpu.Now();
            using (metrics.Time(BusyActor.Partition, heavy: true)) Spin(TimeSpan.FromMilliseconds(4));
            spun += TimeSpan.FromTicks((ThreadCpu.Now() - began) / 100);
        }

        // Thread CPU, so a busy machine preempting the test changes neither side.
        var charged = metrics.Busy(BusyActor.Partition);
        Assert.InRange(charged.TotalMilliseconds, spun.TotalMilliseconds * 0.8, spun.TotalMilliseconds * 1.05);
    }

    [Fact]
    public void Small_messages_sampled_and_weighted_add_up_to_the_cpu_they_took_and_other_actors_are_not_charged()
    {
        using var metrics = new CollectorMetrics();
        var began = ThreadCpu.Now();
        for (var i = 0; i < 6_400; i++)
        {
            using (metrics.Time(BusyActor.Device)) Spin(TimeSpan.FromMicroseconds(50));
        }
        var spun = TimeSpan.FromTicks((ThreadCpu.Now() - began) / 100);

        // About 100 of 6,400 timed, each counting for 64: within a few standard errors of the whole.
        var charged = metrics.Busy(BusyActor.Device);
        Assert.InRange(charged.TotalMilliseconds, spun.TotalMilliseconds * 0.5, spun.TotalMilliseconds * 1.5);
        Assert.Equal(TimeSpan.Zero, metrics.Busy(BusyActor.Partition));
    }

    private static void Spin(TimeSpan cpu)
    {
        var until = ThreadCpu.Now() + (long)(cpu.TotalMilliseconds * 1_000_000);
        while (ThreadCpu.Now() < until) Thread.SpinWait(20);
    }
}
