using System.Collections;
using System.Globalization;
using System.Text;

namespace MetricsCollector.Kafka.Generation;

public enum EventKind { Normal, OutOfOrder, Late, TooLate, Invalid }

public enum InvalidKind { NotJson, BadUtf8, MissingField, WrongType, OutOfRange, BadDeviceId, Oversized }

/// <summary>One record to send. <see cref="EventTime"/> is the timestamp written into the value (epoch ms).</summary>
public sealed record PlannedEvent(
    long Sequence,
    EventKind Kind,
    InvalidKind? Invalid,
    string DeviceId,
    long EventTime,
    byte[] Key,
    byte[] Value);

/// <summary>
/// A seeded, lazily generated sequence of events: the same options give the same bytes, and
/// nothing is held in memory, so endless plans are fine. The event-time clock of event i is
/// start + i/rate; late kinds are placed behind that clock, which is also (to within a few
/// events) the highest event time any partition has seen, since every partition gets a share.
/// </summary>
public sealed class EventPlan : IEnumerable<PlannedEvent>
{
    private const double SpikeProbability = 0.03;

    public EventPlan(GeneratorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        StartMs = (options.EventTimeStart ?? DateTimeOffset.UtcNow).ToUnixTimeMilliseconds();
        Count = options.Count ?? (options.Duration is { } d ? (long)Math.Ceiling(d.TotalSeconds * options.Rate) : null);
    }

    public GeneratorOptions Options { get; }

    public long StartMs { get; }

    /// <summary>Null for an endless plan.</summary>
    public long? Count { get; }

    /// <summary>The event-time clock when event <paramref name="sequence"/> is due; in paced mode also its send time.</summary>
    public long ClockMs(long sequence) => StartMs + (long)Math.Floor(sequence * 1000.0 / Options.Rate);

    public IEnumerator<PlannedEvent> GetEnumerator()
    {
        var random = new Random(Options.Seed);
        var profiles = DeviceProfile.Draw(random, Options.Devices);
        for (long i = 0; Count is null || i < Count; i++)
        {
            yield return Next(random, profiles, i);
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private PlannedEvent Next(Random random, DeviceProfile[] profiles, long sequence)
    {
        var o = Options;
        var device = random.Next(profiles.Length);
        var deviceId = $"device-{device}";
        var clock = ClockMs(sequence);
        var cpu = profiles[device].Sample(random);

        var u = random.NextDouble();
        var kind = (u -= o.InvalidFraction) < 0 ? EventKind.Invalid
            : (u -= o.TooLateFraction) < 0 ? EventKind.TooLate
            : (u -= o.LateFraction) < 0 ? EventKind.Late
            : (u -= o.OutOfOrderFraction) < 0 ? EventKind.OutOfOrder
            : EventKind.Normal;

        var bound = (long)o.MaxOutOfOrderness.TotalMilliseconds;
        var lateness = (long)o.AllowedLateness.TotalMilliseconds;
        var slide = (long)o.WindowSlide.TotalMilliseconds;
        var behind = kind switch
        {
            EventKind.OutOfOrder => random.NextInt64(1, Math.Max(2, bound)),
            // Strictly inside (bound, bound + lateness), so rounding never tips it either way.
            EventKind.Late => bound + random.NextInt64(1, Math.Max(2, lateness)),
            EventKind.TooLate => bound + lateness + (long)o.WindowSize.TotalMilliseconds + slide + random.NextInt64(0, Math.Max(1, slide)),
            _ => 0,
        };
        var eventTime = clock - behind;

        if (kind != EventKind.Invalid)
        {
            return new PlannedEvent(sequence, kind, null, deviceId, eventTime, Encoding.UTF8.GetBytes(deviceId), Json(deviceId, eventTime, cpu));
        }

        var invalid = (InvalidKind)random.Next(Enum.GetValues<InvalidKind>().Length);
        var (id, value) = Invalid(invalid, random, deviceId, eventTime, cpu);
        return new PlannedEvent(sequence, kind, invalid, id, eventTime, Encoding.UTF8.GetBytes(id), value);
    }

    private static byte[] Json(string deviceId, long timestamp, string cpu) =>
        Encoding.UTF8.GetBytes($$"""{"deviceId":"{{deviceId}}","timestamp":{{timestamp}},"cpuUsage":{{cpu}}}""");

    private (string DeviceId, byte[] Value) Invalid(InvalidKind kind, Random random, string deviceId, long timestamp, string cpu)
    {
        switch (kind)
        {
            case InvalidKind.NotJson:
                return (deviceId, Encoding.UTF8.GetBytes($"deviceId={deviceId};timestamp={timestamp};cpuUsage={cpu}"));
            case InvalidKind.BadUtf8:
                // 0xC3 must be followed by a continuation byte; '(' is not one.
                var head = Encoding.UTF8.GetBytes($$"""{"deviceId":"{{deviceId}}""");
                var tail = Encoding.UTF8.GetBytes($"\",\"timestamp\":{timestamp},\"cpuUsage\":{cpu}" + "}");
                return (deviceId, [.. head, 0xC3, 0x28, .. tail]);
            case InvalidKind.MissingField:
                return (deviceId, Encoding.UTF8.GetBytes(random.Next(3) switch
                {
                    0 => $$"""{"timestamp":{{timestamp}},"cpuUsage":{{cpu}}}""",
                    1 => $$"""{"deviceId":"{{deviceId}}","cpuUsage":{{cpu}}}""",
                    _ => $$"""{"deviceId":"{{deviceId}}","timestamp":{{timestamp}}}""",
                }));
            case InvalidKind.WrongType:
                return (deviceId, Encoding.UTF8.GetBytes(random.Next(3) switch
                {
                    0 => $$"""{"deviceId":"{{deviceId}}","timestamp":"{{timestamp}}","cpuUsage":{{cpu}}}""",
                    1 => $$"""{"deviceId":"{{deviceId}}","timestamp":{{timestamp}},"cpuUsage":"{{cpu}}"}""",
                    _ => $$"""{"deviceId":{{deviceId.Length}},"timestamp":{{timestamp}},"cpuUsage":{{cpu}}}""",
                }));
            case InvalidKind.OutOfRange:
                var outside = random.Next(2) == 0
                    ? (100.001 + (random.NextDouble() * 50)).ToString("0.000", CultureInfo.InvariantCulture)
                    : (-0.01 - (random.NextDouble() * 50)).ToString("0.00", CultureInfo.InvariantCulture);
                return (deviceId, Json(deviceId, timestamp, outside));
            case InvalidKind.BadDeviceId:
                var badId = random.Next(3) switch
                {
                    0 => string.Empty,
                    1 => $"{deviceId}\u0001",
                    _ => new string('d', 129),
                };
                // Through the serializer, so the control character is escaped as JSON requires.
                var json = System.Text.Json.JsonSerializer.Serialize(badId);
                return (badId, Encoding.UTF8.GetBytes($$"""{"deviceId":{{json}},"timestamp":{{timestamp}},"cpuUsage":{{cpu}}}"""));
            default:
                var padding = new string('x', Math.Max(0, Options.OversizedBytes - 100));
                return (deviceId, Encoding.UTF8.GetBytes($$"""{"deviceId":"{{deviceId}}","timestamp":{{timestamp}},"cpuUsage":{{cpu}},"padding":"{{padding}}"}"""));
        }
    }

    /// <summary>
    /// Each device has its own typical load and spread, and now and then a spike, so that the
    /// devices' percentiles differ and a top-N ranking means something.
    /// </summary>
    private sealed record DeviceProfile(double Mean, double Spread, int Decimals)
    {
        public static DeviceProfile[] Draw(Random random, int devices) =>
            Enumerable.Range(0, devices)
                .Select(_ => new DeviceProfile(5 + (random.NextDouble() * 80), 2 + (random.NextDouble() * 12), 2 + random.Next(2)))
                .ToArray();

        public string Sample(Random random)
        {
            var value = random.NextDouble() < SpikeProbability
                ? Mean + (random.NextDouble() * (100 - Mean))
                : Mean + (Spread * Gaussian(random));
            value = Math.Round(Math.Clamp(value, 0, 100), Decimals);
            return value.ToString(Decimals == 2 ? "0.00" : "0.000", CultureInfo.InvariantCulture);
        }

        // Box–Muller: two uniforms give one standard normal; the second root is not worth keeping.
        private static double Gaussian(Random random) =>
            Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
    }
}
