using MetricsCollector.Core.Events;

namespace MetricsCollector.Core.Tests.Events;

// The header values are a public contract (DLQ header, metrics label): these tests pin them.
public class RejectReasonTests
{
    [Theory]
    [InlineData(RejectReason.NotUtf8, "not-utf8")]
    [InlineData(RejectReason.NotJson, "not-json")]
    [InlineData(RejectReason.NotAnObject, "not-an-object")]
    [InlineData(RejectReason.MissingField, "missing-field")]
    [InlineData(RejectReason.WrongType, "wrong-type")]
    [InlineData(RejectReason.OutOfRange, "out-of-range")]
    [InlineData(RejectReason.DeviceIdInvalid, "device-id-invalid")]
    [InlineData(RejectReason.TooLarge, "too-large")]
    [InlineData(RejectReason.DuplicateField, "duplicate-field")]
    [InlineData(RejectReason.Empty, "empty")]
    [InlineData(RejectReason.TimestampInFuture, "timestamp-in-future")]
    public void Header_value_is_stable(RejectReason reason, string expected) =>
        Assert.Equal(expected, reason.ToHeaderValue());

    [Fact]
    public void Every_reason_has_a_distinct_kebab_case_header_value()
    {
        string[] values = Enum.GetValues<RejectReason>()
            .Where(r => r != RejectReason.None)
            .Select(r => r.ToHeaderValue())
            .ToArray();

        Assert.Equal(values.Length, values.Distinct(StringComparer.Ordinal).Count());
        Assert.All(values, v => Assert.Matches("^[a-z0-9]+(-[a-z0-9]+)*$", v));
    }

    [Fact]
    public void None_has_no_header_value() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => RejectReason.None.ToHeaderValue());
}
