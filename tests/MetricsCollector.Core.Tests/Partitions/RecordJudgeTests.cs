using System.Text;
using MetricsCollector.Core.Events;
using MetricsCollector.Core.Partitions;
using MetricsCollector.Core.Tests.Windows;
using MetricsCollector.Core.Time;
using MetricsCollector.Core.Windows;

namespace MetricsCollector.Core.Tests.Partitions;

public sealed class RecordJudgeTests
{
    private const long Minute = 60_000;
    private const long Hour = 60 * Minute;
    private const long T0 = 1_764_307_200_000;

    private static RecordJudge NewJudge(long maxFutureSkew = Hour) =>
        new(new EventDecoder(), new Watermark(5 * Minute, 30_000, new ManualClock { Now = T0 }),
            new WindowSettings(new WindowSpec(30 * Minute, Minute), 5 * Minute), maxFutureSkew);

    private static byte[] Event(long timestamp, string device = "device-1") =>
        Encoding.UTF8.GetBytes($$"""{"deviceId":"{{device}}","timestamp":{{timestamp}},"cpuUsage":12.5}""");

    [Fact]
    public void A_wrong_device_clock_goes_to_the_dead_letter_topic_and_never_moves_the_watermark()
    {
        var judge = NewJudge();
        judge.Judge(Event(T0), recordTimestamp: T0);
        var before = judge.Watermark.Current;

        var wrong = judge.Judge(Event(253_402_300_799_999), recordTimestamp: T0 + 1_000);

        Assert.Equal(RecordFate.DeadLetter, wrong.Fate);
        Assert.Equal(RejectReason.TimestampInFuture, wrong.Reason);
        Assert.Equal(before, judge.Watermark.Current);
        // The next thousand ordinary records are all counted, none too late.
        for (var i = 0; i < 1_000; i++)
            Assert.Equal(RecordFate.Counted, judge.Judge(Event(T0 + i * 100), recordTimestamp: T0 + i * 100).Fate);
    }

    [Fact]
    public void The_skew_is_measured_against_the_record_timestamp_and_its_limit_is_inclusive()
    {
        var judge = NewJudge(maxFutureSkew: Hour);
        var appended = T0 - 10 * Hour;
        Assert.Equal(RecordFate.Counted, judge.Judge(Event(appended + Hour), appended).Fate);
        Assert.Equal(RejectReason.TimestampInFuture, judge.Judge(Event(appended + Hour + 1), appended).Reason);
    }

    [Fact]
    public void A_record_without_a_timestamp_is_not_checked_for_skew()
    {
        var judge = NewJudge();
        Assert.Equal(RecordFate.Counted, judge.Judge(Event(T0 + 48 * Hour), recordTimestamp: null).Fate);
    }

    [Fact]
    public void No_value_is_empty()
    {
        var judge = NewJudge();
        var verdict = judge.Judge([], recordTimestamp: T0);
        Assert.Equal(RecordFate.DeadLetter, verdict.Fate);
        Assert.Equal(RejectReason.Empty, verdict.Reason);
        Assert.Equal(Watermark.Start, judge.Watermark.Current);
    }

    [Fact]
    public void Too_late_is_judged_by_the_watermark_before_the_record()
    {
        var judge = NewJudge();
        judge.Judge(Event(T0 + 2 * Hour), T0 + 2 * Hour);
        var judgedBy = judge.Watermark.Current;

        // Every window holding T0 ended by T0 + 30 min and closed by T0 + 35 min < the watermark.
        var late = judge.Judge(Event(T0), T0 + 2 * Hour);
        Assert.Equal(RecordFate.TooLate, late.Fate);
        Assert.Equal(judgedBy, late.JudgedBy);

        // One minute inside the lateness of the last window holding it: counted.
        var stillOpen = judge.Judge(Event(judgedBy - 34 * Minute), T0 + 2 * Hour);
        Assert.Equal(RecordFate.Counted, stillOpen.Fate);
    }

    [Fact]
    public void A_counted_event_carries_the_watermark_before_it_and_moves_it()
    {
        var judge = NewJudge();
        var first = judge.Judge(Event(T0, "a"), T0);
        var second = judge.Judge(Event(T0 + Minute, "b"), T0);
        Assert.Equal(Watermark.Start, first.JudgedBy);
        Assert.Equal(T0 - 5 * Minute, second.JudgedBy);
        Assert.Equal("b", second.Event.DeviceId);
        Assert.Equal(T0 - 4 * Minute, judge.Watermark.Current);
    }
}
