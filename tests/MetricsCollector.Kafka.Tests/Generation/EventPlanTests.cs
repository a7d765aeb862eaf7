using System.Text;
using System.Text.Json;
using MetricsCollector.Kafka.Generation;

namespace MetricsCollector.Kafka.Tests.Generation;

public sealed class EventPlanTests
{
    private static readonly DateTimeOffset Start = DateTimeOffset.FromUnixTimeMilliseconds(1_764_307_200_000);

    private static GeneratorOptions Mixed(int seed = 7, long count = 20_000) => new()
    {
        Devices = 50,
        Rate = 100,
        Count = count,
        Seed = seed,
        EventTimeStart = Start,
        OutOfOrderFraction = 0.10,
        LateFraction = 0.05,
        TooLateFraction = 0.02,
        InvalidFraction = 0.05,
    };

    [Fact]
    public void The_same_seed_gives_the_same_plan_and_another_seed_another()
    {
        var a = new EventPlan(Mixed()).Take(5000).ToList();
        var b = new EventPlan(Mixed()).Take(5000).ToList();
        var c = new EventPlan(Mixed(seed: 8)).Take(5000).ToList();

        Assert.Equal(a.Select(e => (e.Kind, e.EventTime, Convert.ToBase64String(e.Key), Convert.ToBase64String(e.Value))),
                     b.Select(e => (e.Kind, e.EventTime, Convert.ToBase64String(e.Key), Convert.ToBase64String(e.Value))));
        Assert.NotEqual(a.Select(e => Convert.ToBase64String(e.Value)), c.Select(e => Convert.ToBase64String(e.Value)));
    }

    [Fact]
    public void Count_or_duration_times_rate_bounds_the_plan_and_event_time_advances_one_step_per_event()
    {
        Assert.Equal(20_000, new EventPlan(Mixed()).Count());
        var byDuration = new EventPlan(Mixed() with { Count = null, Duration = TimeSpan.FromSeconds(3) });
        Assert.Equal(300, byDuration.Count());

        var normal = new EventPlan(Mixed() with { OutOfOrderFraction = 0, LateFraction = 0, TooLateFraction = 0, InvalidFraction = 0 })
            .Take(1000).ToList();
        Assert.Equal(Enumerable.Range(0, 1000).Select(i => Start.ToUnixTimeMilliseconds() + (i * 10L)), normal.Select(e => e.EventTime));
    }

    [Fact]
    public void Fractions_are_honoured_and_each_kind_sits_where_it_belongs_behind_the_clock()
    {
        var options = Mixed();
        var plan = new EventPlan(options);
        var events = plan.ToList();
        var bound = (long)options.MaxOutOfOrderness.TotalMilliseconds;
        var lateness = (long)options.AllowedLateness.TotalMilliseconds;
        var size = (long)options.WindowSize.TotalMilliseconds;

        void Fraction(EventKind kind, double expected) =>
            Assert.InRange(events.Count(e => e.Kind == kind) / (double)events.Count, expected - 0.01, expected + 0.01);
        Fraction(EventKind.OutOfOrder, 0.10);
        Fraction(EventKind.Late, 0.05);
        Fraction(EventKind.TooLate, 0.02);
        Fraction(EventKind.Invalid, 0.05);

        foreach (var e in events.Where(e => e.Kind != EventKind.Invalid))
        {
            var behind = plan.ClockMs(e.Sequence) - e.EventTime;
            switch (e.Kind)
            {
                case EventKind.Normal: Assert.Equal(0, behind); break;
                case EventKind.OutOfOrder: Assert.InRange(behind, 1, bound - 1); break;
                case EventKind.Late: Assert.InRange(behind, bound + 1, bound + lateness - 1); break;
                case EventKind.TooLate: Assert.True(behind > bound + lateness + size); break;
            }
        }
    }

    [Fact]
    public void Valid_events_pass_the_product_rules_and_every_invalid_one_breaks_one()
    {
        var events = new EventPlan(Mixed()).ToList();
        foreach (var e in events)
        {
            var reason = Check(e.Value);
            if (e.Kind == EventKind.Invalid)
            {
                Assert.True(reason is not null, $"{e.Invalid} passed: {Encoding.UTF8.GetString(e.Value)[..Math.Min(200, e.Value.Length)]}");
            }
            else
            {
                Assert.True(reason is null, $"{reason}: {Encoding.UTF8.GetString(e.Value)}");
                Assert.Equal(e.DeviceId, Encoding.UTF8.GetString(e.Key));
            }
        }

        Assert.Equal(Enum.GetValues<InvalidKind>().Order(), events.Where(e => e.Invalid is not null).Select(e => e.Invalid!.Value).Distinct().Order());
    }

    [Fact]
    public void Devices_differ_so_a_top_n_ranking_means_something()
    {
        var means = new EventPlan(Mixed() with { InvalidFraction = 0, Count = 50_000 })
            .Select(e => JsonDocument.Parse(e.Value).RootElement)
            .GroupBy(j => j.GetProperty("deviceId").GetString())
            .Select(g => g.Average(j => j.GetProperty("cpuUsage").GetDouble()))
            .ToList();

        Assert.Equal(50, means.Count);
        Assert.True(means.Max() - means.Min() > 30, $"device means span only {means.Min():0.0}..{means.Max():0.0}");
    }

    /// <summary>PRODUCT.md's input rules, written independently of the engine's decoder.</summary>
    private static string? Check(byte[] value)
    {
        if (value.Length > 64 * 1024)
        {
            return "oversized";
        }

        try
        {
            _ = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(value);
            using var doc = JsonDocument.Parse(value);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("deviceId", out var id) || !root.TryGetProperty("timestamp", out var ts) || !root.TryGetProperty("cpuUsage", out var cpu))
            {
                return "missing field";
            }

            if (id.ValueKind != JsonValueKind.String || ts.ValueKind != JsonValueKind.Number || cpu.ValueKind != JsonValueKind.Number || !ts.TryGetInt64(out _))
            {
                return "wrong type";
            }

            var device = id.GetString()!;
            if (device.Length is 0 or > 128 || device.Any(char.IsControl))
            {
                return "bad device id";
            }

            return cpu.GetDouble() is >= 0 and <= 100 ? null : "out of range";
        }
        catch (Exception ex) when (ex is JsonException or DecoderFallbackException)
        {
            return ex.GetType().Name;
        }
    }
}
