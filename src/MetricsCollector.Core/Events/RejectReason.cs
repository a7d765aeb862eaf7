namespace MetricsCollector.Core.Events;

/// <summary>
/// Why a record value was refused. Each reason has a header value (<see cref="RejectReasonExtensions.ToHeaderValue"/>)
/// that goes into the dead-letter record's <c>reason</c> header and into a metrics label, so
/// dashboards and DLQ tooling depend on it: add members, never rename their header values.
/// </summary>
public enum RejectReason
{
    /// <summary>Not refused: the reason <see cref="EventDecoder.TryDecode"/> reports for a decoded event.</summary>
    None = 0,

    /// <summary>The value is not valid UTF-8.</summary>
    NotUtf8,

    /// <summary>The value is not one JSON text: empty, malformed, nested deeper than 64, or followed by more content.</summary>
    NotJson,

    /// <summary>The value is valid JSON, but not an object.</summary>
    NotAnObject,

    /// <summary>One of <c>deviceId</c>, <c>timestamp</c>, <c>cpuUsage</c> is absent.</summary>
    MissingField,

    /// <summary>A field has the wrong JSON type, including <c>null</c>, and a timestamp that is not written as an integer.</summary>
    WrongType,

    /// <summary><c>cpuUsage</c> outside [0, 100] or not finite, or <c>timestamp</c> outside [0, 253402300799999] (year 9999).</summary>
    OutOfRange,

    /// <summary><c>deviceId</c> is empty, longer than 128 Unicode scalar values, holds a control character or an unpaired surrogate escape.</summary>
    DeviceIdInvalid,

    /// <summary>The value is longer than the decoder's maximum record size.</summary>
    TooLarge,

    /// <summary>A known field appears twice: which one the producer meant is ambiguous, so neither is trusted.</summary>
    DuplicateField,

    /// <summary>The record has no value (null or zero bytes): a tombstone, or a producer that sent nothing.</summary>
    Empty,

    /// <summary>
    /// The event time is further ahead of its Kafka record's timestamp than the maximum future skew: the
    /// device's clock is wrong, and trusting it would move the partition's watermark past every later event.
    /// </summary>
    TimestampInFuture,
}

/// <summary>The stable header values of <see cref="RejectReason"/>.</summary>
public static class RejectReasonExtensions
{
    /// <summary>
    /// The kebab-case name used in the dead-letter <c>reason</c> header and the metrics label.
    /// Throws for <see cref="RejectReason.None"/>, which never goes to the dead-letter topic.
    /// </summary>
    public static string ToHeaderValue(this RejectReason reason) => reason switch
    {
        RejectReason.NotUtf8 => "not-utf8",
        RejectReason.NotJson => "not-json",
        RejectReason.NotAnObject => "not-an-object",
        RejectReason.MissingField => "missing-field",
        RejectReason.WrongType => "wrong-type",
        RejectReason.OutOfRange => "out-of-range",
        RejectReason.DeviceIdInvalid => "device-id-invalid",
        RejectReason.TooLarge => "too-large",
        RejectReason.DuplicateField => "duplicate-field",
        RejectReason.Empty => "empty",
        RejectReason.TimestampInFuture => "timestamp-in-future",
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, "Not a reason to refuse a record."),
    };
}
