using Akka.TestKit.Xunit2;
using MetricsCollector.Devices;
using MetricsCollector.Tests.Partitions;

namespace MetricsCollector.Tests.Devices;

/// <summary>The node's wheel of device alarms, on a clock the test moves (its own ticker reads the same clock).</summary>
public sealed class DeviceAlarmsTests : TestKit
{
    private const long Start = 1_000_000;
    private readonly SettableClock _clock = new(Start);
    private readonly DeviceAlarms _alarms;

    public DeviceAlarmsTests() => _alarms = new DeviceAlarms(_clock, TimeSpan.FromMilliseconds(100));

    protected override void Dispose(bool disposing)
    {
        if (disposing) _alarms.Dispose();
        base.Dispose(disposing);
    }

    private void At(long ms)
    {
        _clock.Now = Start + ms;
        _alarms.Tick();
    }

    [Fact]
    public void An_alarm_rings_at_the_first_tick_at_or_after_its_time_and_not_before()
    {
        var device = CreateTestProbe();
        _alarms.Set(device.Ref, "snapshot", TimeSpan.FromMilliseconds(250));

        At(299);
        device.ExpectNoMsg(TimeSpan.FromMilliseconds(150));
        At(300);
        Assert.Equal("snapshot", device.ExpectMsg<string>());
        At(1_000);
        device.ExpectNoMsg(TimeSpan.FromMilliseconds(150));
        Assert.Equal(0, _alarms.Pending);
    }

    [Fact]
    public void An_alarm_beyond_a_turn_of_the_wheel_waits_in_its_bucket_for_its_own_turn()
    {
        var device = CreateTestProbe();
        // 64 buckets of 100 ms: 10 s lands in the bucket of 3.6 s, visited a turn before it is due.
        _alarms.Set(device.Ref, "late", TimeSpan.FromSeconds(10));
        for (var ms = 100; ms < 10_000; ms += 100) At(ms);
        device.ExpectNoMsg(TimeSpan.FromMilliseconds(150));
        Assert.Equal(1, _alarms.Pending);

        At(10_000);
        Assert.Equal("late", device.ExpectMsg<string>());
    }

    [Fact]
    public void An_alarm_for_a_time_already_looked_at_rings_at_the_next_tick()
    {
        var device = CreateTestProbe();
        At(500);
        _alarms.SetAt(device.Ref, "overdue", Start + 200);
        At(599);
        device.ExpectNoMsg(TimeSpan.FromMilliseconds(150));
        At(600);
        Assert.Equal("overdue", device.ExpectMsg<string>());
    }

    [Fact]
    public void After_a_stall_longer_than_a_turn_every_due_alarm_rings_once_and_later_ones_wait()
    {
        var device = CreateTestProbe();
        _alarms.Set(device.Ref, 1, TimeSpan.FromMilliseconds(300));
        _alarms.Set(device.Ref, 2, TimeSpan.FromSeconds(5));
        _alarms.Set(device.Ref, 3, TimeSpan.FromSeconds(20));
        _alarms.Set(device.Ref, 4, TimeSpan.FromSeconds(60));

        At(30_000);
        Assert.Equal([1, 2, 3], new[] { device.ExpectMsg<int>(), device.ExpectMsg<int>(), device.ExpectMsg<int>() }.Order());
        device.ExpectNoMsg(TimeSpan.FromMilliseconds(150));
        At(59_900);
        device.ExpectNoMsg(TimeSpan.FromMilliseconds(150));
        At(60_000);
        Assert.Equal(4, device.ExpectMsg<int>());
        Assert.Equal(0, _alarms.Pending);
    }

    [Fact]
    public void The_resolution_keeps_a_snapshot_interval_or_a_save_timeout_to_a_sixteenth_within_5_ms_and_1_s()
    {
        static TimeSpan For(double intervalMs, double timeoutMs) => DeviceAlarms.ResolutionFor(new DeviceSettings(
            new Core.Windows.WindowSettings(new Core.Windows.WindowSpec(60_000, 10_000), 5_000), 100,
            TimeSpan.FromMilliseconds(intervalMs), TimeSpan.FromMilliseconds(timeoutMs)));

        Assert.Equal(TimeSpan.FromMilliseconds(625), For(15_000, 10_000));
        Assert.Equal(TimeSpan.FromMilliseconds(1_000), For(600_000, 60_000));
        Assert.Equal(TimeSpan.FromMilliseconds(5), For(10, 10_000));
        Assert.Equal(TimeSpan.FromMilliseconds(18.75), For(300, 300));
    }
}
