using System.Text;
using MetricsCollector.Core.Events;

namespace MetricsCollector.Core.Tests.Events;

public class EventDecoderTests
{
    private const string Typical = """{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986}""";

    private static CpuEvent Accepted(string json, EventDecoder? decoder = null) => Accepted(Encoding.UTF8.GetBytes(json), decoder);

    private static CpuEvent Accepted(byte[] value, EventDecoder? decoder = null)
    {
        bool ok = (decoder ?? new EventDecoder()).TryDecode(value, out CpuEvent evt, out RejectReason reason);
        Assert.Equal(RejectReason.None, reason);
        Assert.True(ok);
        return evt;
    }

    private static RejectReason Refused(string json, EventDecoder? decoder = null) => Refused(Encoding.UTF8.GetBytes(json), decoder);

    private static RejectReason Refused(byte[] value, EventDecoder? decoder = null)
    {
        bool ok = (decoder ?? new EventDecoder()).TryDecode(value, out CpuEvent evt, out RejectReason reason);
        Assert.False(ok);
        Assert.Equal(default, evt);
        Assert.NotEqual(RejectReason.None, reason);
        return reason;
    }

    private static string Event(string deviceId = "\"device-11\"", string timestamp = "1764307200000", string cpuUsage = "78.986") =>
        $$"""{"deviceId":{{deviceId}},"timestamp":{{timestamp}},"cpuUsage":{{cpuUsage}}}""";

    // ---- valid records ----

    [Fact]
    public void Typical_record_decodes() =>
        Assert.Equal(new CpuEvent("device-11", 1764307200000, 78.986), Accepted(Typical));

    [Theory]
    [InlineData("""{"timestamp":1764307200000,"cpuUsage":78.986,"deviceId":"device-11"}""")]
    [InlineData("""{"cpuUsage":78.986,"deviceId":"device-11","timestamp":1764307200000}""")]
    [InlineData("""{"cpuUsage":78.986,"timestamp":1764307200000,"deviceId":"device-11"}""")]
    [InlineData("  {  \"deviceId\" : \"device-11\" ,\"timestamp\"\t:1764307200000,\r\n  \"cpuUsage\":78.986 }  \n")]
    public void Fields_in_any_order_and_any_whitespace_decode(string json) =>
        Assert.Equal(new CpuEvent("device-11", 1764307200000, 78.986), Accepted(json));

    [Theory]
    [InlineData("""{"site":"plant-3","deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986}""")]
    [InlineData("""{"deviceId":"device-11","tags":{"a":[1,{"b":null}],"c":{}},"timestamp":1764307200000,"cpuUsage":78.986}""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986,"x":[[[]]],"y":null,"z":true,"w":-1e999}""")]
    [InlineData("""{"DeviceId":42,"deviceId":"device-11","TIMESTAMP":"x","timestamp":1764307200000,"cpuUsage":78.986}""")]
    [InlineData("""{"":1,"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986,"bad\ud800name":0}""")]
    public void Unknown_fields_of_any_type_are_ignored(string json) =>
        Assert.Equal(new CpuEvent("device-11", 1764307200000, 78.986), Accepted(json));

    [Fact]
    public void Escaped_device_id_decodes_to_the_same_instance_as_the_plain_one()
    {
        var decoder = new EventDecoder();

        CpuEvent plain = Accepted(Event("\"device-1\""), decoder);
        CpuEvent escaped = Accepted(Event("\"dev\\u0069ce-1\""), decoder);
        CpuEvent escapedSolidus = Accepted(Event("\"device\\u002D1\""), decoder);

        Assert.Equal("device-1", escaped.DeviceId);
        Assert.Same(plain.DeviceId, escaped.DeviceId);
        Assert.Same(plain.DeviceId, escapedSolidus.DeviceId);
    }

    [Theory]
    [InlineData("\"a\\\"b\"", "a\"b")]
    [InlineData("\"a\\\\b\\/c\"", "a\\b/c")]
    [InlineData("\"\\u00e9t\\u00E9\"", "été")]
    [InlineData("\"\\ud83d\\ude00\"", "😀")]
    [InlineData("\"Gerät-温度-😀\"", "Gerät-温度-😀")]
    public void Escaped_and_non_ascii_device_ids_decode(string jsonString, string expected) =>
        Assert.Equal(expected, Accepted(Event(jsonString)).DeviceId);

    [Fact]
    public void Escaped_field_names_match()
    {
        const string json = """{"device\u0049d":"device-11","time\u0073tamp":1764307200000,"\u0063puUsage":78.986}""";

        Assert.Equal(new CpuEvent("device-11", 1764307200000, 78.986), Accepted(json));
    }

    [Fact]
    public void Device_ids_are_interned_across_records()
    {
        var decoder = new EventDecoder();

        Assert.Same(Accepted(Typical, decoder).DeviceId, Accepted(Event(cpuUsage: "1"), decoder).DeviceId);
    }

    [Theory]
    [InlineData("0", 0L)]
    [InlineData("-0", 0L)]
    [InlineData("253402300799999", EventDecoder.MaxTimestamp)]
    [InlineData("1764307200000", 1764307200000L)]
    public void Integer_timestamps_in_range_decode(string timestamp, long expected) =>
        Assert.Equal(expected, Accepted(Event(timestamp: timestamp)).Timestamp);

    [Theory]
    [InlineData("0", 0.0)]
    [InlineData("100", 100.0)]
    [InlineData("100.0", 100.0)]
    [InlineData("78.986", 78.986)]
    [InlineData("7.8986e1", 78.986)]
    [InlineData("7.8986E+1", 78.986)]
    [InlineData("789.86e-1", 78.986)]
    [InlineData("1e2", 100.0)]
    [InlineData("0e5", 0.0)]
    [InlineData("1E-300", 1e-300)]
    [InlineData("4.9E-324", double.Epsilon)]
    public void Cpu_usage_in_range_decodes_in_any_number_form(string cpuUsage, double expected) =>
        Assert.Equal(expected, Accepted(Event(cpuUsage: cpuUsage)).CpuUsage);

    [Theory]
    [InlineData("-0")]
    [InlineData("-0.0")]
    [InlineData("-0e10")]
    public void Negative_zero_cpu_usage_becomes_positive_zero(string cpuUsage) =>
        Assert.Equal(0L, BitConverter.DoubleToInt64Bits(Accepted(Event(cpuUsage: cpuUsage)).CpuUsage));

    [Fact]
    public void A_leading_byte_order_mark_is_skipped() =>
        Assert.Equal(new CpuEvent("device-11", 1764307200000, 78.986), Accepted([0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(Typical)]));

    [Fact]
    public void Device_id_of_128_characters_is_accepted()
    {
        string ascii = new('a', 128);
        string emoji = string.Concat(Enumerable.Repeat("😀", 128));
        string escaped = string.Concat(Enumerable.Repeat("\\ud83d\\ude00", 128));

        Assert.Equal(ascii, Accepted(Event($"\"{ascii}\"")).DeviceId);
        Assert.Equal(emoji, Accepted(Event($"\"{emoji}\"")).DeviceId);
        Assert.Equal(emoji, Accepted(Event($"\"{escaped}\"")).DeviceId);
    }

    [Fact]
    public void A_record_of_exactly_the_maximum_size_is_accepted()
    {
        byte[] value = Encoding.UTF8.GetBytes(Typical);

        Accepted(value, new EventDecoder(maxRecordBytes: value.Length));
    }

    // ---- too-large ----

    [Fact]
    public void A_record_over_the_maximum_size_is_too_large()
    {
        byte[] value = Encoding.UTF8.GetBytes(Typical);

        Assert.Equal(RejectReason.TooLarge, Refused(value, new EventDecoder(maxRecordBytes: value.Length - 1)));
    }

    [Fact]
    public void The_default_maximum_is_4096_bytes()
    {
        string padding = new('x', 4096 - Typical.Length - ""","p":"" """.Trim().Length);
        string exactly4096 = Typical[..^1] + $$""","p":"{{padding}}"}""";

        Assert.Equal(4096, Encoding.UTF8.GetByteCount(exactly4096));
        Accepted(exactly4096);
        Assert.Equal(RejectReason.TooLarge, Refused(exactly4096 + " "));
    }

    [Fact]
    public void Too_large_wins_over_not_utf8() =>
        Assert.Equal(RejectReason.TooLarge, Refused(Enumerable.Repeat((byte)0xFF, 5000).ToArray()));

    [Fact]
    public void A_non_positive_maximum_size_is_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new EventDecoder(maxRecordBytes: 0));

    // ---- not-utf8 ----

    public static TheoryData<byte[]> NotUtf8Values => new()
    {
        { [0xFF] },
        { Encoding.UTF8.GetBytes(Typical).Select(b => b == (byte)'1' ? (byte)0xFF : b).ToArray() },
        { [.. "{\"deviceId\":\"dev"u8, 0xC3, .. "\",\"timestamp\":1,\"cpuUsage\":1}"u8] },      // truncated sequence
        { [.. "{\"deviceId\":\""u8, 0xC0, 0xAF, .. "\",\"timestamp\":1,\"cpuUsage\":1}"u8] },   // overlong '/'
        { [.. "{\"deviceId\":\""u8, 0xED, 0xA0, 0x80, .. "\",\"timestamp\":1,\"cpuUsage\":1}"u8] }, // encoded surrogate
        { [.. "{\"deviceId\":\""u8, 0xF4, 0x90, 0x80, 0x80, .. "\",\"timestamp\":1,\"cpuUsage\":1}"u8] }, // above U+10FFFF
        { [.. Encoding.UTF8.GetBytes(Typical), 0x80] },
        { [0xFE, 0xFF, .. Encoding.UTF8.GetBytes(Typical)] },                                   // UTF-16 BOM
    };

    [Theory]
    [MemberData(nameof(NotUtf8Values))]
    public void Invalid_utf8_anywhere_is_not_utf8(byte[] value) =>
        Assert.Equal(RejectReason.NotUtf8, Refused(value));

    [Fact]
    public void Not_utf8_wins_over_not_json() =>
        Assert.Equal(RejectReason.NotUtf8, Refused([.. "not json at all "u8, 0xFF]));

    // ---- empty ----

    [Fact]
    public void No_bytes_at_all_is_empty_not_malformed_json() =>
        Assert.Equal(RejectReason.Empty, Refused([]));

    // ---- not-json ----

    [Theory]
    [InlineData("   ")]
    [InlineData("{")]
    [InlineData("}")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986} x""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986}{}""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986,}""")]
    [InlineData("""{"deviceId":"device-11",/*c*/"timestamp":1764307200000,"cpuUsage":78.986}""")]
    [InlineData("""{'deviceId':'device-11','timestamp':1764307200000,'cpuUsage':78.986}""")]
    [InlineData("""{deviceId:"device-11",timestamp:1764307200000,cpuUsage:78.986}""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":NaN}""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":Infinity}""")]
    [InlineData("""{"deviceId":"device-11","timestamp":01764307200000,"cpuUsage":78.986}""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":+78.986}""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":.5}""")]
    [InlineData("""{"deviceId":"dev\xce-1","timestamp":1764307200000,"cpuUsage":78.986}""")]
    [InlineData("""{"deviceId":"device-11" "timestamp":1764307200000,"cpuUsage":78.986}""")]
    [InlineData("[1,")]
    [InlineData("nul")]
    [InlineData("\"unterminated")]
    public void Malformed_json_is_not_json(string json) =>
        Assert.Equal(RejectReason.NotJson, Refused(json));

    [Fact]
    public void A_raw_control_character_in_a_string_is_not_json() =>
        Assert.Equal(RejectReason.NotJson, Refused(Event("\"dev\u0001ce\"")));

    [Fact]
    public void Nesting_deeper_than_64_is_not_json()
    {
        string deep = new string('[', 64) + new string(']', 64);

        Assert.Equal(RejectReason.NotJson, Refused(Typical[..^1] + $$""","deep":{{deep}}}"""));
        Accepted(Typical[..^1] + $$""","deep":{{deep[1..^1]}}}""");
    }

    [Fact]
    public void A_second_byte_order_mark_is_not_json() =>
        Assert.Equal(RejectReason.NotJson, Refused([0xEF, 0xBB, 0xBF, 0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(Typical)]));

    [Fact]
    public void Malformed_json_wins_over_field_errors() =>
        Assert.Equal(RejectReason.NotJson, Refused("""{"deviceId":"","timestamp":-1,"cpuUsage":500,"""));

    // ---- not-an-object ----

    [Theory]
    [InlineData("[]")]
    [InlineData("""[{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986}]""")]
    [InlineData("\"device-11\"")]
    [InlineData("42")]
    [InlineData("null")]
    [InlineData("true")]
    [InlineData(" [ 1 , 2 ] ")]
    public void Valid_json_that_is_not_an_object_is_not_an_object(string json) =>
        Assert.Equal(RejectReason.NotAnObject, Refused(json));

    [Theory]
    [InlineData("[1] x")]
    [InlineData("[1,]")]
    [InlineData("42 43")]
    public void Malformed_json_that_is_not_an_object_is_not_json(string json) =>
        Assert.Equal(RejectReason.NotJson, Refused(json));

    // ---- missing-field ----

    [Theory]
    [InlineData("{}")]
    [InlineData("""{"timestamp":1764307200000,"cpuUsage":78.986}""")]
    [InlineData("""{"deviceId":"device-11","cpuUsage":78.986}""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000}""")]
    [InlineData("""{"DeviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986}""")]
    [InlineData("""{"device_id":"device-11","timestamp":1764307200000,"cpuUsage":78.986}""")]
    [InlineData("""{"nested":{"deviceId":"device-11"},"timestamp":1764307200000,"cpuUsage":78.986}""")]
    public void A_missing_field_is_missing_field(string json) =>
        Assert.Equal(RejectReason.MissingField, Refused(json));

    // ---- wrong-type ----

    [Theory]
    [InlineData("11")]
    [InlineData("null")]
    [InlineData("true")]
    [InlineData("""{"id":"device-11"}""")]
    [InlineData("""["device-11"]""")]
    public void A_device_id_that_is_not_a_string_is_wrong_type(string deviceId) =>
        Assert.Equal(RejectReason.WrongType, Refused(Event(deviceId: deviceId)));

    [Theory]
    [InlineData("\"1764307200000\"")]
    [InlineData("1.5e12")]
    [InlineData("1764307200000.0")]
    [InlineData("1764307200000e0")]
    [InlineData("1E3")]
    [InlineData("1.0")]
    [InlineData("-1.5")]
    [InlineData("1e400")]
    [InlineData("null")]
    [InlineData("false")]
    [InlineData("{}")]
    [InlineData("[1764307200000]")]
    public void A_timestamp_not_written_as_an_integer_is_wrong_type(string timestamp) =>
        Assert.Equal(RejectReason.WrongType, Refused(Event(timestamp: timestamp)));

    [Theory]
    [InlineData("\"78.986\"")]
    [InlineData("null")]
    [InlineData("true")]
    [InlineData("{}")]
    [InlineData("[78.986]")]
    public void A_cpu_usage_that_is_not_a_number_is_wrong_type(string cpuUsage) =>
        Assert.Equal(RejectReason.WrongType, Refused(Event(cpuUsage: cpuUsage)));

    // ---- out-of-range ----

    [Theory]
    [InlineData("-1")]
    [InlineData("-9223372036854775808")]
    [InlineData("253402300800000")]
    [InlineData("9223372036854775807")]
    [InlineData("9223372036854775808")]
    [InlineData("99999999999999999999999999")]
    [InlineData("-99999999999999999999999999")]
    public void A_timestamp_outside_year_0_to_9999_or_overflowing_is_out_of_range(string timestamp) =>
        Assert.Equal(RejectReason.OutOfRange, Refused(Event(timestamp: timestamp)));

    [Theory]
    [InlineData("-0.001")]
    [InlineData("-1")]
    [InlineData("-4.9E-324")]
    [InlineData("100.00000000001")]
    [InlineData("101")]
    [InlineData("1e400")]
    [InlineData("-1e400")]
    [InlineData("1.7976931348623157e308")]
    public void A_cpu_usage_outside_0_to_100_or_not_finite_is_out_of_range(string cpuUsage) =>
        Assert.Equal(RejectReason.OutOfRange, Refused(Event(cpuUsage: cpuUsage)));

    // ---- device-id-invalid ----

    [Theory]
    [InlineData("\"\"")]
    [InlineData("\"\\u0000\"")]
    [InlineData("\"dev\\u0001ce\"")]
    [InlineData("\"device-11\\n\"")]
    [InlineData("\"\\tdevice-11\"")]
    [InlineData("\"device\\u001F\"")]
    [InlineData("\"device\\u007f\"")]
    [InlineData("\"device\u007f\"")]
    [InlineData("\"device\\u0080\"")]
    [InlineData("\"device\u0085\"")]
    [InlineData("\"device\\u009F\"")]
    [InlineData("\"device\\ud800\"")]
    [InlineData("\"device\\udc00\"")]
    [InlineData("\"device\\ude00\\ud83d\"")]
    public void An_empty_or_control_or_unpaired_surrogate_device_id_is_invalid(string deviceId) =>
        Assert.Equal(RejectReason.DeviceIdInvalid, Refused(Event(deviceId: deviceId)));

    [Theory]
    [InlineData("\"device\u00a0\"")]
    [InlineData("\"device\\u00A0\"")]
    [InlineData("\"device\u2028\"")]
    [InlineData("\" \"")]
    public void Characters_next_to_the_control_ranges_are_allowed(string deviceId) =>
        Accepted(Event(deviceId: deviceId));

    [Fact]
    public void A_device_id_of_129_characters_is_invalid()
    {
        string ascii = new('a', 129);
        string emoji = string.Concat(Enumerable.Repeat("😀", 129));
        string escapedAscii = string.Concat(Enumerable.Repeat("\\u0061", 129));
        string escapedEmoji = string.Concat(Enumerable.Repeat("\\ud83d\\ude00", 129));

        Assert.Equal(RejectReason.DeviceIdInvalid, Refused(Event($"\"{ascii}\"")));
        Assert.Equal(RejectReason.DeviceIdInvalid, Refused(Event($"\"{emoji}\"")));
        Assert.Equal(RejectReason.DeviceIdInvalid, Refused(Event($"\"{escapedAscii}\"")));
        Assert.Equal(RejectReason.DeviceIdInvalid, Refused(Event($"\"{escapedEmoji}\"")));
    }

    [Fact]
    public void A_long_escaped_device_id_is_invalid_without_being_unescaped() =>
        Assert.Equal(RejectReason.DeviceIdInvalid, Refused(Event($"\"{string.Concat(Enumerable.Repeat("\\u0061", 600))}\"")));

    // ---- duplicate-field ----

    [Theory]
    [InlineData("""{"deviceId":"device-11","deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986}""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"timestamp":1764307200000,"cpuUsage":78.986}""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986,"cpuUsage":1}""")]
    [InlineData("""{"deviceId":"device-11","device\u0049d":"device-12","timestamp":1764307200000,"cpuUsage":78.986}""")]
    [InlineData("""{"deviceId":"device-11","deviceId":null,"timestamp":1764307200000,"cpuUsage":78.986}""")]
    [InlineData("""{"deviceId":"device-11","deviceId":{"x":1},"timestamp":1764307200000,"cpuUsage":78.986}""")]
    public void A_known_field_given_twice_is_duplicate_field(string json) =>
        Assert.Equal(RejectReason.DuplicateField, Refused(json));

    // ---- precedence among field errors ----

    [Theory]
    [InlineData("""{"cpuUsage":500,"deviceId":"","timestamp":"x"}""", RejectReason.OutOfRange)]
    [InlineData("""{"deviceId":"","cpuUsage":500,"timestamp":"x"}""", RejectReason.DeviceIdInvalid)]
    [InlineData("""{"timestamp":"x","deviceId":"","cpuUsage":500}""", RejectReason.WrongType)]
    [InlineData("""{"cpuUsage":500,"cpuUsage":1,"timestamp":1}""", RejectReason.OutOfRange)]
    [InlineData("""{"cpuUsage":1,"cpuUsage":500,"timestamp":"x"}""", RejectReason.DuplicateField)]
    [InlineData("""{"cpuUsage":500}""", RejectReason.OutOfRange)]
    public void The_first_field_error_in_document_order_wins_and_missing_field_comes_last(string json, RejectReason expected) =>
        Assert.Equal(expected, Refused(json));

    [Fact]
    public void Ids_of_refused_records_are_not_interned()
    {
        var pool = new DeviceIdPool();
        var decoder = new EventDecoder(pool);

        Refused(Event(cpuUsage: "500"), decoder);
        Refused("""{"deviceId":"dev\u0069ce-1","timestamp":1}""", decoder);

        Assert.Equal(0, pool.Count);
    }
}
