using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using CsCheck;
using MetricsCollector.Core.Events;

namespace MetricsCollector.Core.Tests.Events;

/// <summary>
/// The fast path is only allowed to be faster: <see cref="EventDecoder.TryDecode"/> must give
/// the event, reason and pool contents that the reader-only path gives, for every input.
/// </summary>
public class CommonShapeReaderTests
{
    private const string Typical = """{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986}""";

    private static void AssertSameAsReader(byte[] value, int maxRecordBytes = EventDecoder.DefaultMaxRecordBytes)
    {
        var fastPool = new DeviceIdPool();
        var readerPool = new DeviceIdPool();
        bool fastOk = new EventDecoder(fastPool, maxRecordBytes).TryDecode(value, out CpuEvent fast, out RejectReason fastReason);
        bool readerOk = new EventDecoder(readerPool, maxRecordBytes).TryDecodeWithReader(value, out CpuEvent reader, out RejectReason readerReason);
        Assert.Equal(readerReason, fastReason);
        Assert.Equal(readerOk, fastOk);
        Assert.Equal(reader.DeviceId, fast.DeviceId);
        Assert.Equal(reader.Timestamp, fast.Timestamp);
        Assert.Equal(BitConverter.DoubleToInt64Bits(reader.CpuUsage), BitConverter.DoubleToInt64Bits(fast.CpuUsage));
        Assert.Equal(readerPool.Count, fastPool.Count);
    }

    private static void AssertSameAsReader(string json) => AssertSameAsReader(Encoding.UTF8.GetBytes(json));

    private static bool TakesFastPath(string json) => CommonShapeReader.TryRead(Encoding.UTF8.GetBytes(json), out _, out _, out _);

    private static string Event(string deviceId = "\"device-11\"", string timestamp = "1764307200000", string cpuUsage = "78.986") =>
        $$"""{"deviceId":{{deviceId}},"timestamp":{{timestamp}},"cpuUsage":{{cpuUsage}}}""";

    // ---- the shapes it must take, or it is not a fast path ----

    [Theory]
    [InlineData(Typical)]
    [InlineData("""{"cpuUsage":78.986,"timestamp":1764307200000,"deviceId":"device-11"}""")]
    [InlineData(" {\t\"deviceId\" : \"device-11\" ,\r\n\"timestamp\":1764307200000 , \"cpuUsage\":\n78.986 } \n")]
    [InlineData("""{"site":"plant-3","n":-1.5e-3,"ok":true,"no":false,"x":null,"deviceId":"device-11","timestamp":0,"cpuUsage":0}""")]
    [InlineData("""{"deviceId":"a","timestamp":253402300799999,"cpuUsage":100}""")]
    [InlineData("""{"deviceId":"a","timestamp":1,"cpuUsage":0.0000001}""")]
    [InlineData("""{"deviceId":"a","timestamp":1,"cpuUsage":99.9999999999999}""")]
    [InlineData("""{"deviceId":"a","timestamp":1,"cpuUsage":9.007199254740992}""")]
    [InlineData("""{"deviceId":"a","timestamp":1,"cpuUsage":100.000000000000}""")]
    [InlineData("""{"x":"a","x":"a","deviceId":" ~!","timestamp":1,"cpuUsage":0.1}""")]
    public void Common_records_take_the_fast_path_and_decode_as_the_reader_does(string json)
    {
        Assert.True(TakesFastPath(json));
        AssertSameAsReader(json);
    }

    // ---- numbers near the edges, in every slot ----

    public static TheoryData<string> Numbers() => new(
        "0", "-0", "+0", "+1", "00", "01", "00.5", "0.", ".5", "1.", "-", "", "0x1", "1e", "1e+", "NaN", "Infinity",
        "0.1", "0.2", "0.3", "78.986", "37.125", "99.99999999999999", "99.999999999999999", "0.0000001", "100",
        "100.0", "100.0000000000000001", "100.00000000000001", "100.5", "101", "1e2", "1E2", "1e-7", "7.8986e1",
        "-0.0", "-1", "0.30000000000000004", "9007199254740992", "9007199254740993", "0.9007199254740993",
        "90.07199254740993", "9.007199254740992", "0.0000000000000000000001", "0.00000000000000000000001",
        "1.0000000000000000000000", "4.9e-324", "1e400", "-1e400", "1764307200000", "253402300799999",
        "253402300800000", "0253402300799999", "2534023007999990", "9223372036854775807", "9223372036854775808",
        "1764307200000.0", "1764307200000e0", "\"1764307200000\"", "\"78.986\"", "true", "null", "[]", "{}", "[1]");

    [Theory]
    [MemberData(nameof(Numbers))]
    public void Numbers_decode_as_the_reader_decodes_them(string number)
    {
        AssertSameAsReader(Event(cpuUsage: number));
        AssertSameAsReader(Event(timestamp: number));
        AssertSameAsReader($$"""{"other":{{number}},"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986}""");
    }

    // ---- whatever else it might get wrong ----

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("{}")]
    [InlineData("\uFEFF" + Typical)]
    [InlineData(Typical + Typical)]
    [InlineData(Typical + ",")]
    [InlineData(Typical + "\f")]
    [InlineData("\v" + Typical)]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986,}""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000 "cpuUsage":78.986}""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage"78.986}""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986,"deviceId":"device-12"}""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"timestamp":1764307200000,"cpuUsage":78.986}""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986,"cpuUsage":1}""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000}""")]
    [InlineData("""{"devic\u0065Id":"device-11","timestamp":1764307200000,"cpuUsage":78.986}""")]
    [InlineData("""{"deviceId":"dev\u0069ce-11","timestamp":1764307200000,"cpuUsage":78.986}""")]
    [InlineData("""{"deviceId":"dev\"ce-11","timestamp":1764307200000,"cpuUsage":78.986}""")]
    [InlineData("""{"deviceId":"","timestamp":1764307200000,"cpuUsage":78.986}""")]
    [InlineData("""{"deviceId":"\u007F","timestamp":1764307200000,"cpuUsage":78.986}""")]
    [InlineData("{\"deviceId\":\"\u007F\",\"timestamp\":1764307200000,\"cpuUsage\":78.986}")]
    [InlineData("{\"deviceId\":\"a\tb\",\"timestamp\":1764307200000,\"cpuUsage\":78.986}")]
    [InlineData("{\"x\":\"\u007F\",\"deviceId\":\"device-11\",\"timestamp\":1764307200000,\"cpuUsage\":78.986}")]
    [InlineData("{\"\u007F\":1,\"deviceId\":\"device-11\",\"timestamp\":1764307200000,\"cpuUsage\":78.986}")]
    [InlineData("""{"deviceId":"gerät-11","timestamp":1764307200000,"cpuUsage":78.986}""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986,"x":"é"}""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986,"x":{}}""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986,"x":tru}""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986,"x":nul}""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986,"x":truex}""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986,"x":True}""")]
    [InlineData("""{"deviceId":"device-11","timestamp":1764307200000,"cpuUsage":78.986,"x":"a\nb"}""")]
    [InlineData("""{"deviceId":null,"timestamp":1764307200000,"cpuUsage":78.986}""")]
    [InlineData("""{"deviceId":11,"timestamp":1764307200000,"cpuUsage":78.986}""")]
    [InlineData("""["deviceId","device-11"]""")]
    [InlineData("\"deviceId\"")]
    [InlineData("{\"deviceId\":\"device-11\",\"timestamp\":1764307200000,\"cpuUsage\":78.986}\0")]
    public void Odd_records_decode_as_the_reader_decodes_them(string json) => AssertSameAsReader(json);

    [Theory]
    [InlineData(1)]
    [InlineData(127)]
    [InlineData(128)]
    [InlineData(129)]
    [InlineData(600)]
    public void Device_id_lengths_decode_as_the_reader_decodes_them(int length) =>
        AssertSameAsReader(Event(deviceId: $"\"{new string('d', length)}\""));

    [Fact]
    public void The_size_limit_comes_before_the_fast_path()
    {
        byte[] value = Encoding.UTF8.GetBytes(Typical);
        AssertSameAsReader(value, maxRecordBytes: value.Length);
        AssertSameAsReader(value, maxRecordBytes: value.Length - 1);
    }

    // ---- generated ----

    [Fact]
    public void Generated_valid_records_decode_as_the_reader_decodes_them() =>
        EventDecoderPropertyTests.GenValidRecord.Sample(
            sample => AssertSameAsReader(Encoding.UTF8.GetBytes(sample.Json), int.MaxValue), iter: 5_000, print: s => s.Json);

    [Fact]
    public void Generated_mutated_records_decode_as_the_reader_decodes_them() =>
        Gen.Select(
                Gen.OneOf(EventDecoderPropertyTests.GenValidRecord.Select(s => Encoding.UTF8.GetBytes(s.Json)), GenCommonRecord),
                EventDecoderPropertyTests.GenMutation.Array[1, 6],
                (value, mutations) => mutations.Aggregate(value, (v, mutate) => mutate(v)))
            .Sample(value => AssertSameAsReader(value, 512), iter: 20_000, print: v => Convert.ToHexString(v));

    [Fact]
    public void Random_bytes_decode_as_the_reader_decodes_them() =>
        Gen.Byte.Array[0, 200].Sample(value => AssertSameAsReader(value), iter: 20_000, print: v => Convert.ToHexString(v));

    [Fact]
    public void Generated_common_records_decode_as_the_reader_decodes_them() =>
        GenCommonRecord.Sample(value => AssertSameAsReader(value), iter: 20_000, print: v => Encoding.UTF8.GetString(v));

    [Fact]
    public void Short_decimals_of_producers_take_the_fast_path() =>
        Gen.Select(
                Gen.Double[0, 100],
                Gen.Int[0, 6],
                Gen.Long[0, EventDecoder.MaxTimestamp],
                Gen.Char[' ', '~'].Where(c => c is not '"' and not '\\').Array[1, DeviceIdRule.MaxLength],
                (cpu, decimals, timestamp, id) => Event(
                    JsonSerializer.Serialize(new string(id), Relaxed),
                    timestamp.ToString(CultureInfo.InvariantCulture),
                    cpu.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture)))
            .Sample(json => Assert.True(TakesFastPath(json), json), iter: 5_000);

    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    // ASCII from empty to too long, with the odd quote, backslash or DEL that leaves the fast path.
    private static readonly Gen<string> GenAsciiId =
        Gen.Frequency((40, Gen.Char[' ', '~']), (1, Gen.Const('\u007F'))).Array[0, 130].Select(chars => new string(chars));

    private static readonly Gen<string> GenDigits = Gen.Char['0', '9'].Array[1, 25].Select(chars => new string(chars));

    // Integers m up to a little past 2^53 with k decimals up to a little past 22: both edges of
    // the exact division, written with the leading zeros of "0.000123" where k passes m's digits,
    // and mostly below 1000 so that the range test is near too.
    private static readonly Gen<string> GenShortDecimal =
        Gen.Select(Gen.Frequency((3, Gen.ULong[0, 1UL << 53]), (1, Gen.ULong[(1UL << 53) - 100, (1UL << 53) + 100]), (1, Gen.ULong[0, 100_000])), Gen.Int[0, 25])
            .Select((m, k) =>
            {
                string digits = m.ToString(CultureInfo.InvariantCulture);
                k = Math.Max(k, digits.Length - 3);
                digits = digits.PadLeft(k + 1, '0');
                return k == 0 ? digits : $"{digits[..^k]}.{digits[^k..]}";
            });

    // How producers write a reading: a fixed number of decimals, up to more than an exact
    // division can take.
    private static readonly Gen<string> GenFixedDecimals =
        Gen.Select(Gen.Double[0, 100], Gen.Int[0, 16], (d, k) => d.ToString("F" + k.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture));

    // The exact decimal halfway between a double in [0, 100] and the next one up, where
    // double.Parse must round to even, cut after a random number of decimals: long cuts sit on
    // the rounding edge, short ones are near it within the exact-division range.
    private static readonly Gen<string> GenNearHalfway =
        Gen.Select(Gen.Double[0, 100], Gen.Int[1, 60], (d, decimals) =>
        {
            string text = ExactMidpointAbove(d);
            return text[..Math.Min(text.Length, text.IndexOf('.', StringComparison.Ordinal) + 1 + decimals)];
        });

    private static string ExactMidpointAbove(double d)
    {
        long bits = BitConverter.DoubleToInt64Bits(d);
        int exponent = (int)((bits >> 52) & 0x7FF);
        long mantissa = bits & ((1L << 52) - 1);
        if (exponent == 0)
        {
            exponent = 1;
        }
        else
        {
            mantissa |= 1L << 52;
        }

        // d = m × 2^(e − 1075), so the midpoint is (2m + 1) × 2^(e − 1076) = (2m + 1) × 5^n / 10^n.
        int n = 1076 - exponent;
        BigInteger scaled = ((2 * new BigInteger(mantissa)) + 1) * BigInteger.Pow(5, n);
        string digits = scaled.ToString(CultureInfo.InvariantCulture).PadLeft(n + 1, '0');
        return $"{digits[..^n]}.{digits[^n..]}";
    }

    private static readonly Gen<string> GenNumberText = Gen.Frequency(
        (4, GenShortDecimal),
        (4, GenFixedDecimals),
        (2, Gen.Double[0, 100].Select(d => d.ToString("R", CultureInfo.InvariantCulture))),
        (1, GenNearHalfway),
        (2, Gen.Long[0, EventDecoder.MaxTimestamp + 10].Select(t => t.ToString(CultureInfo.InvariantCulture))),
        (2, Gen.Select(Gen.OneOf(Gen.Const(""), Gen.Const("-"), Gen.Const("+")), Gen.OneOf(Gen.Const("0"), Gen.Const("00"), GenDigits),
            Gen.OneOf(Gen.Const(""), Gen.Const("."), GenDigits.Select(d => "." + d)),
            Gen.OneOf(Gen.Const(""), Gen.Const("e"), Gen.Const("E+2"), Gen.Const("e-7"), Gen.Int[0, 400].Select(e => "e" + e)),
            (sign, integer, fraction, exponent) => sign + integer + fraction + exponent)),
        (1, Gen.OneOf(Gen.Const("true"), Gen.Const("null"), Gen.Const("\"1\""), Gen.Const("{}"))));

    // JSON whitespace, usually none, and now and then a byte that only looks like whitespace.
    private static readonly Gen<string> GenSpace = Gen.Frequency(
        (40, Gen.Const("")),
        (10, Gen.OneOf(Gen.Const(' '), Gen.Const('\t'), Gen.Const('\n'), Gen.Const('\r')).Array[1, 3].Select(c => new string(c))),
        (1, Gen.OneOf(Gen.Const("\f"), Gen.Const("\v"), Gen.Const("\u00A0"), Gen.Const("\0"))));

    private static readonly Gen<string> GenSimpleValue = Gen.OneOf(
        GenNumberText,
        GenAsciiId.Select(s => JsonSerializer.Serialize(s, Relaxed)),
        Gen.OneOf(Gen.Const("true"), Gen.Const("false"), Gen.Const("null")));

    // Records of the shape the fast path is for, with its edge cases: each known field present
    // zero to two times, unknown fields of simple values, whitespace between any two tokens.
    private static readonly Gen<byte[]> GenCommonRecord =
        from id in Gen.Frequency((6, Gen.Int[0, 100_000].Select(i => $"device-{i}")), (3, GenAsciiId), (1, EventDecoderPropertyTests.GenDeviceId))
        from timestamp in Gen.Frequency((3, Gen.Long[0, EventDecoder.MaxTimestamp].Select(t => t.ToString(CultureInfo.InvariantCulture))), (1, GenNumberText))
        from cpuUsage in Gen.Frequency((2, GenFixedDecimals), (1, GenNumberText))
        from counts in Gen.Frequency((20, Gen.Const(1)), (1, Gen.Int[0, 2])).Array[3]
        from extras in Gen.Select(Gen.OneOf(Gen.Const("site"), Gen.Const("DeviceId"), Gen.Const(""), Gen.String[0, 4]), GenSimpleValue, (n, v) => (Name: n, Value: v)).Array[0, 3]
        from order in Gen.Int.Array[9]
        from spaces in GenSpace.Array[40]
        select Compose(
            [
                .. Enumerable.Repeat(("deviceId", JsonSerializer.Serialize(id, Relaxed)), counts[0]),
                .. Enumerable.Repeat(("timestamp", timestamp), counts[1]),
                .. Enumerable.Repeat(("cpuUsage", cpuUsage), counts[2]),
                .. extras,
            ],
            order,
            spaces);

    private static byte[] Compose((string Name, string Value)[] fields, int[] order, string[] spaces)
    {
        var shuffled = fields.Select((field, i) => (field, key: order[i % order.Length])).OrderBy(x => x.key).Select(x => x.field).ToArray();
        int s = 0;
        string Space() => spaces[s++ % spaces.Length];
        var json = new StringBuilder(Space()).Append('{').Append(Space());
        for (int i = 0; i < shuffled.Length; i++)
        {
            if (i > 0)
            {
                json.Append(',').Append(Space());
            }

            json.Append(JsonSerializer.Serialize(shuffled[i].Name)).Append(Space()).Append(':').Append(Space()).Append(shuffled[i].Value).Append(Space());
        }

        return Encoding.UTF8.GetBytes(json.Append('}').Append(Space()).ToString());
    }
}
