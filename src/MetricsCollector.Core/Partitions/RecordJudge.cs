using MetricsCollector.Core.Events;
using MetricsCollector.Core.Time;
using MetricsCollector.Core.Windows;

namespace MetricsCollector.Core.Partitions;

/// <summary>What becomes of one record: counted in its windows, or sent to one of the side topics.</summary>
public enum RecordFate
{
    /// <summary>A valid event for at least one window that is not closed: it goes to its device.</summary>
    Counted,

    /// <summary>Not a valid event (<see cref="Judgement.Reason"/> says why): it goes to the dead-letter topic.</summary>
    DeadLetter,

    /// <summary>A valid event too late for every window it belongs to: it goes to the too-late topic.</summary>
    TooLate,
}

/// <summary>
/// The verdict on one record. <see cref="JudgedBy"/> is the partition's watermark before the record,
/// the one a device must apply before the event (it is also what decided <see cref="RecordFate.TooLate"/>).
/// </summary>
public readonly record struct Judgement(RecordFate Fate, CpuEvent Event, long JudgedBy, RejectReason Reason);

/// <summary>
/// Judges a partition's records, in partition order, by every rule a record must pass; the one
/// place where those rules are applied, in this order:
/// <list type="number">
/// <item>The value must decode (<see cref="EventDecoder"/>; no value at all is <see cref="RejectReason.Empty"/>).</item>
/// <item>Its event time may be at most the maximum future skew ahead of the Kafka record's own
/// timestamp (<see cref="RejectReason.TimestampInFuture"/>). The record's timestamp, not the wall
/// clock, so that a replay judges the record the same way; a record without one is not checked.</item>
/// <item>Only then does it move the watermark (<see cref="Watermark.Observe"/>): one record whose
/// device clock is wrong must not move the partition's watermark years ahead, making every later
/// event too late.</item>
/// <item>It is too late when every window it belongs to is closed under the watermark before it
/// (<see cref="WindowSettings.IsTooLate"/>); judged here once, devices trust the verdict.</item>
/// </list>
/// Not thread-safe: one judge per partition, like its decoder and watermark.
/// </summary>
public sealed class RecordJudge
{
    private readonly EventDecoder _decoder;
    private readonly WindowSettings _windows;
    private readonly long _maxFutureSkew;

    public RecordJudge(EventDecoder decoder, Watermark watermark, WindowSettings windows, long maxFutureSkewMs)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxFutureSkewMs);
        _decoder = decoder;
        Watermark = watermark;
        _windows = windows;
        _maxFutureSkew = maxFutureSkewMs;
    }

    /// <summary>The partition's watermark, which only the records this judge counts move.</summary>
    public Watermark Watermark { get; }

    /// <param name="value">The record's value; empty for none.</param>
    /// <param name="recordTimestamp">The Kafka record's timestamp (epoch ms), or null when it has none.</param>
    public Judgement Judge(ReadOnlySpan<byte> value, long? recordTimestamp)
    {
        if (!_decoder.TryDecode(value, out var evt, out var reason))
            return new Judgement(RecordFate.DeadLetter, default, Watermark.Current, reason);
        if (recordTimestamp is { } appended && evt.Timestamp - appended > _maxFutureSkew)
            return new Judgement(RecordFate.DeadLetter, evt, Watermark.Current, RejectReason.TimestampInFuture);
        var judgedBy = Watermark.Observe(evt.Timestamp);
        var fate = _windows.IsTooLate(evt.Timestamp, judgedBy) ? RecordFate.TooLate : RecordFate.Counted;
        return new Judgement(fate, evt, judgedBy, RejectReason.None);
    }
}
