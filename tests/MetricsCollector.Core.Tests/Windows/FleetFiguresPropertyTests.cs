using CsCheck;
using MetricsCollector.Core.Windows;
using MetricsCollector.Testing;

namespace MetricsCollector.Core.Tests.Windows;

/// <summary>
/// Fleet figures against the exact oracle: random streams of many devices through the core (keyed, or
/// spread over partitions as unkeyed producers do), every window's parts folded by <see cref="FleetMerge"/>
/// in random order and batch size, compared with all the values of every device's window of that end.
/// Counts, devices, min, max and mean must be exact, the percentiles within the digest's rank bound.
/// </summary>
public sealed class FleetFiguresPropertyTests
{
    private const long Size = 60_000, Slide = 10_000, Lateness = 5_000, Bound = 5_000;
    private static readonly double[] Quantiles = [0.5, 0.9, 0.95, 0.99];

    [Fact]
    public void Fleet_figures_of_every_window_equal_the_oracle_over_all_its_events() =>
        Gen.Select(Gen.Int[1, 4], Gen.Int[1, 60], Gen.Int[0, 4_000], Gen.Bool, Gen.Int[1, 40], Gen.Int)
            .Sample((partitions, devices, events, unkeyed, batch, seed) => Check(partitions, devices, events, unkeyed, batch, seed), iter: 60, threads: 1);

    [Fact]
    public void Figures_by_device_are_the_distribution_of_one_figure_per_device() =>
        Gen.Select(Gen.Int[1, 300], Gen.Enum<RankBy>(), Gen.Int)
            .Sample((devices, by, seed) =>
            {
                var random = new Random(seed);
                var rows = Enumerable.Range(0, devices)
                    .Select(d => new WindowResult($"d{d}", 0, Size, Value(random, 0), Value(random, 0), Value(random, 0), Value(random, 0),
                        Value(random, 0), Value(random, 0), Value(random, 0), 1 + random.Next(100), 1, true, 0, PercentileBounds.Within(0, 100)))
                    .ToList();
                var fleet = FleetFigures.OfDevices(rows, by)!;
                var exact = new ExactWindow("fleet", 0, Size);
                foreach (var row in rows) exact.Add(0, by.Figure(row), late: false);
                AssertEqual(exact, fleet, devices, $"seed {seed}, by {by}");
            }, iter: 200);

    [Fact]
    public void No_rows_and_no_parts_have_no_figures()
    {
        Assert.Null(FleetFigures.OfDevices([], RankBy.P95));
        Assert.Null(new FleetMerge().Result());
    }

    private static void Check(int partitions, int devices, int events, bool unkeyed, int batch, int seed)
    {
        var random = new Random(seed);
        var harness = new WindowPipelineHarness(new WindowSettings(new WindowSpec(Size, Slide), Lateness), Bound);
        var oracle = new ExactWindowOracle(Size, Slide, Lateness, Bound);
        var valueMode = random.Next(3);
        var clock = 1_764_307_200_000L;
        var positions = new long[partitions];
        for (var i = 0; i < events; i++)
        {
            clock += random.Next(0, 60);
            var device = $"d{random.Next(devices)}";
            // Keyed: a device always on one partition; unkeyed: anywhere.
            var partition = unkeyed ? random.Next(partitions) : int.Parse(device.AsSpan(1), provider: null) % partitions;
            // Some out of order, some late, some too late.
            var time = clock - (random.Next(10) switch { < 6 => 0, < 8 => random.Next((int)Bound), 8 => Bound + random.Next((int)Lateness), _ => random.Next(90_000) });
            var value = Value(random, valueMode);
            harness.Record(partition, positions[partition], device, time, value);
            oracle.Record(partition, positions[partition], device, time, value);
            positions[partition]++;
            if (random.Next(200) == 0) harness.TakeAll(time);
        }

        harness.FinishAll(clock + Size + Lateness + Bound + 10 * Slide);
        harness.TakeAll(clock);

        var expectedByEnd = oracle.Windows.Values.GroupBy(w => w.End).ToDictionary(g => g.Key, g => g.ToList());
        var partsByEnd = harness.Parts.GroupBy(p => p.Row.WindowEnd).ToDictionary(g => g.Key, g => g.ToList());
        Assert.Equal(expectedByEnd.Keys.Order(), partsByEnd.Keys.Order());
        foreach (var (end, windows) in expectedByEnd)
        {
            var merge = new FleetMerge(batch);
            foreach (var part in partsByEnd[end].OrderBy(_ => random.Next())) merge.Add(part);
            var fleet = merge.Result()!;
            var exact = new ExactWindow("fleet", windows[0].Start, end);
            foreach (var value in windows.SelectMany(w => w.Values)) exact.Add(0, value, late: false);
            AssertEqual(exact, fleet, windows.Count, $"seed {seed}, window {end}");
            Assert.Equal(windows[0].Start, fleet.WindowStart);
        }
    }

    private static void AssertEqual(ExactWindow exact, FleetFigures fleet, int devices, string context)
    {
        Assert.True(exact.Count == fleet.Count, $"{context}: count {fleet.Count} != {exact.Count}");
        Assert.True(devices == fleet.Devices, $"{context}: devices {fleet.Devices} != {devices}");
        Assert.True(exact.Min == fleet.Min && exact.Max == fleet.Max, $"{context}: min/max");
        Assert.True(Math.Abs(exact.Mean - fleet.Mean) <= 1e-9 * Math.Max(1, Math.Abs(exact.Mean)), $"{context}: mean {fleet.Mean} != {exact.Mean}");
        double[] figures = [fleet.P50, fleet.P90, fleet.P95, fleet.P99];
        for (var q = 0; q < Quantiles.Length; q++)
        {
            var error = exact.RankError(Quantiles[q], figures[q]);
            Assert.True(error <= exact.RankBound(Quantiles[q]),
                $"{context}: q={Quantiles[q]} -> {figures[q]} rank error {error} > {exact.RankBound(Quantiles[q])} (n={exact.Count})");
        }
    }

    // CPU-like readings: hundredths of a percent, any double in [0, 100], or one repeated value.
    private static double Value(Random random, int mode) => mode switch
    {
        0 => random.Next(0, 10_001) / 100.0,
        1 => random.NextDouble() * 100,
        _ => 42.5,
    };
}
