using System.Globalization;
using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using MetricsCollector.Core.Events;

namespace MetricsCollector.Benchmarks;

/// <summary>
/// The cost of turning one record value into a <see cref="CpuEvent"/>, per record, over 10,000
/// distinct devices already known to the pool (the steady state of a partition). <see cref="Decode"/>
/// takes the fast path for the common shape; <see cref="DecodeWithReader"/> is the same records
/// through the <c>Utf8JsonReader</c> path alone, as every record went before it; the escaped-id,
/// full-precision and malformed records are declined by the fast path and pay for both. The interning
/// benchmarks compare the byte-keyed <see cref="DeviceIdPool"/> with the char-keyed alternative
/// it replaced, a dictionary alternate lookup after transcoding; the JsonSerializer one shows
/// what a straightforward DTO deserialisation would cost. Min and median are shown because on a
/// shared machine the mean mostly measures the neighbours.
/// </summary>
[MemoryDiagnoser]
[MinColumn]
[MedianColumn]
public class DecodeBenchmarks
{
    private const int Devices = 10_000;

    private byte[][] _records = [];
    private byte[][] _escapedIdRecords = [];
    private byte[][] _fullPrecisionRecords = [];
    private byte[][] _malformedRecords = [];
    private byte[][] _ids = [];
    private EventDecoder _decoder = new();
    private DeviceIdPool _pool = new();
    private Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> _charLookup;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        _ids = new byte[Devices][];
        _records = new byte[Devices][];
        _escapedIdRecords = new byte[Devices][];
        _fullPrecisionRecords = new byte[Devices][];
        _malformedRecords = new byte[Devices][];
        var byString = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < Devices; i++)
        {
            string id = $"device-{i}";
            string timestamp = (1764307200000L + (i * 1000L)).ToString(CultureInfo.InvariantCulture);
            double exactCpuUsage = random.NextDouble() * 100;
            string cpuUsage = Math.Round(exactCpuUsage, 3).ToString("R", CultureInfo.InvariantCulture);
            _ids[i] = Encoding.UTF8.GetBytes(id);
            _records[i] = Encoding.UTF8.GetBytes($$"""{"deviceId":"{{id}}","timestamp":{{timestamp}},"cpuUsage":{{cpuUsage}}}""");
            _escapedIdRecords[i] = Encoding.UTF8.GetBytes($$"""{"deviceId":"dev\u0069ce-{{i}}","timestamp":{{timestamp}},"cpuUsage":{{cpuUsage}}}""");
            _fullPrecisionRecords[i] = Encoding.UTF8.GetBytes($$"""{"deviceId":"{{id}}","timestamp":{{timestamp}},"cpuUsage":{{exactCpuUsage.ToString("R", CultureInfo.InvariantCulture)}}}""");
            _malformedRecords[i] = Encoding.UTF8.GetBytes($$"""{"deviceId":"{{id}}","timestamp":{{timestamp}},"cpuUsage":{{cpuUsage}}""");
            byString[id] = id;
        }

        _charLookup = byString.GetAlternateLookup<ReadOnlySpan<char>>();
        _pool = new DeviceIdPool();
        _decoder = new EventDecoder(_pool);
        foreach (byte[] record in _records)
        {
            _decoder.TryDecode(record, out _, out _);
        }
    }

    [Benchmark(OperationsPerInvoke = Devices)]
    public double Decode() => SumOfDecoded(_records, withReader: false);

    [Benchmark(Baseline = true, OperationsPerInvoke = Devices)]
    public double DecodeWithReader() => SumOfDecoded(_records, withReader: true);

    [Benchmark(OperationsPerInvoke = Devices)]
    public double DecodeFullPrecision() => SumOfDecoded(_fullPrecisionRecords, withReader: false);

    [Benchmark(OperationsPerInvoke = Devices)]
    public double DecodeEscapedId() => SumOfDecoded(_escapedIdRecords, withReader: false);

    [Benchmark(OperationsPerInvoke = Devices)]
    public int DecodeMalformed()
    {
        int refused = 0;
        foreach (byte[] record in _malformedRecords)
        {
            refused += _decoder.TryDecode(record, out _, out _) ? 0 : 1;
        }

        return refused;
    }

    [Benchmark(OperationsPerInvoke = Devices)]
    public double JsonSerializerBaseline()
    {
        double sum = 0;
        foreach (byte[] record in _records)
        {
            sum += JsonSerializer.Deserialize<EventDto>(record, JsonSerializerOptions.Web)!.CpuUsage;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Devices)]
    public int InternByBytes()
    {
        int length = 0;
        foreach (byte[] id in _ids)
        {
            length += _pool.GetOrAdd(id).Length;
        }

        return length;
    }

    [Benchmark(OperationsPerInvoke = Devices)]
    public int InternByTranscodedChars()
    {
        int length = 0;
        Span<char> chars = stackalloc char[512];
        foreach (byte[] id in _ids)
        {
            int count = Encoding.UTF8.GetChars(id, chars);
            length += _charLookup[chars[..count]].Length;
        }

        return length;
    }

    public sealed record EventDto(string DeviceId, long Timestamp, double CpuUsage);

    private double SumOfDecoded(byte[][] records, bool withReader)
    {
        double sum = 0;
        foreach (byte[] record in records)
        {
            CpuEvent evt;
            _ = withReader ? _decoder.TryDecodeWithReader(record, out evt, out _) : _decoder.TryDecode(record, out evt, out _);
            sum += evt.CpuUsage;
        }

        return sum;
    }
}
