using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using CsCheck;
using MetricsCollector.Core.Events;

namespace MetricsCollector.Core.Tests.Events;

public class EventDecoderPropertyTests
{
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    // Any scalar value but controls: device ids a producer may legitimately send.
    internal static readonly Gen<string> GenDeviceId = Gen.Frequency(
            (4, Gen.Int[0x20, 0x7E]),
            (1, Gen.Int[0xA0, 0xD7FF]),
            (1, Gen.Int[0xE000, 0x10FFFF]))
        .Array[1, DeviceIdRule.MaxLength]
        .Select(scalars => string.Concat(scalars.Select(s => new Rune(s).ToString())));

    private static readonly Gen<double> GenCpuUsage = Gen.Frequency(
        (6, Gen.Double[0, 100]),
        (1, Gen.OneOf(Gen.Const(0.0), Gen.Const(100.0), Gen.Const(-0.0), Gen.Const(double.Epsilon), Gen.Const(78.986))));

    private static readonly Gen<long> GenTimestamp = Gen.Frequency(
        (6, Gen.Long[0, EventDecoder.MaxTimestamp]),
        (1, Gen.OneOf(Gen.Const(0L), Gen.Const(EventDecoder.MaxTimestamp), Gen.Const(1764307200000L))));

    // Numbers are written in the forms producers use; 17 significant digits always round-trip.
    private static readonly Gen<Func<double, string>> GenNumberFormat = Gen.OneOf(
        Gen.Const<Func<double, string>>(d => d.ToString("R", CultureInfo.InvariantCulture)),
        Gen.Const<Func<double, string>>(d => d.ToString("E16", CultureInfo.InvariantCulture)),
        Gen.Const<Func<double, string>>(d => d.ToString("e16", CultureInfo.InvariantCulture)),
        Gen.Const<Func<double, string>>(d => JsonSerializer.Serialize(d)));

    internal static readonly Gen<string> GenJsonValue = Gen.OneOf(
        Gen.Int.Select(i => i.ToString(CultureInfo.InvariantCulture)),
        Gen.Double.Where(double.IsFinite).Select(d => d.ToString("R", CultureInfo.InvariantCulture)),
        Gen.String.Select(s => JsonSerializer.Serialize(s)),
        Gen.OneOf(Gen.Const("null"), Gen.Const("true"), Gen.Const("false"), Gen.Const("{}"), Gen.Const("[]")),
        Gen.String.Select(s => $$"""{"a":[1,{"b":{{JsonSerializer.Serialize(s)}}}],"deviceId":"nested"}"""));

    private static readonly Gen<string> GenExtraField =
        Gen.Select(Gen.String[0, 12], GenJsonValue, (name, value) => $"{JsonSerializer.Serialize(name)}:{value}")
            .Where(field => !field.StartsWith("\"deviceId\":", StringComparison.Ordinal)
                && !field.StartsWith("\"timestamp\":", StringComparison.Ordinal)
                && !field.StartsWith("\"cpuUsage\":", StringComparison.Ordinal));

    private static readonly Gen<string> GenWhitespace = Gen.OneOf(Gen.Const(""), Gen.Const(" "), Gen.Const("\n\t "));

    internal sealed record Sample(CpuEvent Event, string Json);

    internal static readonly Gen<Sample> GenValidRecord =
        from deviceId in GenDeviceId
        from timestamp in GenTimestamp
        from cpuUsage in GenCpuUsage
        from format in GenNumberFormat
        from relaxed in Gen.Bool
        from extras in GenExtraField.Array[0, 4]
        from ws in GenWhitespace
        let known = new[]
        {
            $"\"deviceId\":{ws}{JsonSerializer.Serialize(deviceId, relaxed ? Relaxed : JsonSerializerOptions.Default)}",
            $"\"timestamp\":{ws}{timestamp.ToString(CultureInfo.InvariantCulture)}",
            $"\"cpuUsage\":{ws}{format(cpuUsage)}",
        }
        from fields in Gen.Shuffle(known.Concat(extras).ToArray())
        select new Sample(new CpuEvent(deviceId, timestamp, cpuUsage), ws + "{" + string.Join("," + ws, fields) + "}" + ws);

    [Fact]
    public void Valid_events_decode_back_exactly() =>
        GenValidRecord.Sample(sample =>
        {
            var decoder = new EventDecoder(maxRecordBytes: int.MaxValue);
            Assert.True(decoder.TryDecode(Encoding.UTF8.GetBytes(sample.Json), out CpuEvent evt, out RejectReason reason), reason.ToString());
            Assert.Equal(sample.Event.DeviceId, evt.DeviceId);
            Assert.Equal(sample.Event.Timestamp, evt.Timestamp);
            Assert.Equal(BitConverter.DoubleToInt64Bits(sample.Event.CpuUsage == 0 ? 0 : sample.Event.CpuUsage), BitConverter.DoubleToInt64Bits(evt.CpuUsage));
        }, iter: 5_000, print: s => s.Json);

    [Fact]
    public void Escaped_and_raw_forms_of_an_id_intern_to_one_instance() =>
        GenDeviceId.Sample(deviceId =>
        {
            var decoder = new EventDecoder();
            string raw = $$"""{"deviceId":{{JsonSerializer.Serialize(deviceId, Relaxed)}},"timestamp":0,"cpuUsage":0}""";
            string escaped = $$"""{"deviceId":"{{string.Concat(deviceId.Select(c => $"\\u{(int)c:x4}"))}}","timestamp":0,"cpuUsage":0}""";
            Assert.True(decoder.TryDecode(Encoding.UTF8.GetBytes(raw), out CpuEvent a, out _));
            Assert.True(decoder.TryDecode(Encoding.UTF8.GetBytes(escaped), out CpuEvent b, out _));
            Assert.Same(a.DeviceId, b.DeviceId);
        }, iter: 2_000);

    internal static readonly Gen<Func<byte[], byte[]>> GenMutation = Gen.OneOf(
        Gen.Select(Gen.Int.NonNegative, Gen.Byte, (at, b) => (Func<byte[], byte[]>)(v => v.Length == 0 ? v : Replace(v, at % v.Length, b))),
        Gen.Select(Gen.Int.NonNegative, Gen.Byte, (at, b) => (Func<byte[], byte[]>)(v => [.. v[..(at % (v.Length + 1))], b, .. v[(at % (v.Length + 1))..]])),
        Gen.Select(Gen.Int.NonNegative, Gen.Int[1, 8], (at, n) => (Func<byte[], byte[]>)(v => v.Length == 0 ? v : [.. v[..(at % v.Length)], .. v[Math.Min(v.Length, (at % v.Length) + n)..]])),
        Gen.Int.NonNegative.Select(at => (Func<byte[], byte[]>)(v => v[..(at % (v.Length + 1))])),
        Gen.Select(Gen.Int.NonNegative, Gen.Int.NonNegative, (a, b) => (Func<byte[], byte[]>)(v => v.Length == 0 ? v : [.. v, .. v[(Math.Min(a, b) % v.Length)..]])));

    private static byte[] Replace(byte[] value, int at, byte b)
    {
        byte[] copy = (byte[])value.Clone();
        copy[at] = b;
        return copy;
    }

    private static void AssertEventOrReason(EventDecoder decoder, byte[] value)
    {
        bool ok = decoder.TryDecode(value, out CpuEvent evt, out RejectReason reason);
        if (ok)
        {
            Assert.Equal(RejectReason.None, reason);
            Assert.NotNull(evt.DeviceId);
            Assert.InRange(evt.CpuUsage, 0, 100);
            Assert.InRange(evt.Timestamp, 0, EventDecoder.MaxTimestamp);
        }
        else
        {
            Assert.NotEqual(RejectReason.None, reason);
            Assert.True(Enum.IsDefined(reason));
            Assert.Equal(default, evt);
        }
    }

    [Fact]
    public void Mutated_records_never_throw() =>
        Gen.Select(GenValidRecord, GenMutation.Array[1, 6]).Sample((sample, mutations) =>
        {
            var decoder = new EventDecoder(maxRecordBytes: 512);
            byte[] value = mutations.Aggregate(Encoding.UTF8.GetBytes(sample.Json), (v, mutate) => mutate(v));
            AssertEventOrReason(decoder, value);
        }, iter: 20_000);

    [Fact]
    public void Random_bytes_never_throw() =>
        Gen.Byte.Array[0, 200].Sample(value => AssertEventOrReason(new EventDecoder(), value), iter: 20_000);

    private static readonly Gen<char> GenControl = Gen.OneOf(Gen.Char['\u0000', '\u001F'], Gen.Char['\u007F', '\u009F']);

    [Fact]
    public void Device_ids_of_control_characters_are_refused() =>
        GenControl.Array[1, 40].Sample(controls =>
        {
            var decoder = new EventDecoder();
            string json = $$"""{"deviceId":{{JsonSerializer.Serialize(new string(controls))}},"timestamp":0,"cpuUsage":0}""";
            Assert.False(decoder.TryDecode(Encoding.UTF8.GetBytes(json), out _, out RejectReason reason));
            Assert.Equal(RejectReason.DeviceIdInvalid, reason);
        }, iter: 2_000);

    [Fact]
    public void A_control_character_anywhere_in_a_device_id_is_refused() =>
        Gen.Select(GenDeviceId, GenControl, Gen.Int.NonNegative, Gen.Bool).Sample((deviceId, control, at, relaxed) =>
        {
            var decoder = new EventDecoder();
            int index = at % (deviceId.Length + 1);
            if (index > 0 && index < deviceId.Length && char.IsLowSurrogate(deviceId[index]))
            {
                index--;
            }

            string id = deviceId.Insert(index, control.ToString());
            string json = $$"""{"deviceId":{{JsonSerializer.Serialize(id, relaxed ? Relaxed : JsonSerializerOptions.Default)}},"timestamp":0,"cpuUsage":0}""";
            Assert.False(decoder.TryDecode(Encoding.UTF8.GetBytes(json), out _, out RejectReason reason));
            Assert.Equal(RejectReason.DeviceIdInvalid, reason);
        }, iter: 2_000);
}
