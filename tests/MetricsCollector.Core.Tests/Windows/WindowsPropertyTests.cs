using CsCheck;
using MetricsCollector.Core.Digests;
using MetricsCollector.Core.Windows;
using MetricsCollector.Testing;

namespace MetricsCollector.Core.Tests.Windows;

/// <summary>
/// Random partitioned streams with out-of-order, late and too-late events, run through the
/// core (watermarks, timers, panes, digests, lazy rows, snapshot restarts, parts merged into
/// rows) and through the naive oracle. Everything must agree exactly but the percentiles, which
/// must sit within the digest's rank-error bound.
/// </summary>
public sealed class WindowsPropertyTests
{
    // (size, slide, allowed lateness, max out-of-orderness) in ms: the product default among them.
    private static readonly (long Size, long Slide, long Lateness, long Bound)[] Shapes =
    [
        (30 * 60_000, 60_000, 5 * 60_000, 5 * 60_000),
        (60_000, 10_000, 5_000, 5_000),
        (10_000, 10_000, 0, 2_000),
        (45_000, 15_000, 30_000, 0),
    ];

    private static readonly double[] Quantiles = [0.5, 0.9, 0.95, 0.99];

    [Fact]
    public void Core_agrees_with_the_exact_oracle_on_random_streams() =>
        Gen.Select(Gen.Int[0, 3], Gen.Int[1, 3], Gen.Int[0, 700], Gen.Int)
            .Sample((shape, partitions, events, seed) => RunScenario(Shapes[shape], partitions, events, seed), iter: 120, threads: 1);

    /// <summary>Unkeyed producers: every device's records on every partition, each judged by its own partition.</summary>
    [Fact]
    public void Parts_merged_per_window_agree_with_the_exact_oracle_when_devices_span_partitions() =>
        Gen.Select(Gen.Int[0, 3], Gen.Int[2, 4], Gen.Int[0, 700], Gen.Int)
            .Sample((shape, partitions, events, seed) => RunScenario(Shapes[shape], partitions, events, seed, unkeyed: true), iter: 120, threads: 1);

    /// <summary>
    /// Devices busy enough (dozens of events a pane) that windows hold hundreds to thousands of
    /// values and are built from a partial their neighbours share plus a few panes.
    /// </summary>
    [Fact]
    public void Dense_streams_agree_with_the_exact_oracle() =>
        Gen.Select(Gen.Int[0, 1], Gen.Int[1, 2], Gen.Int[3_000, 8_000], Gen.Int)
            .Sample((shape, partitions, events, seed) =>
                RunScenario(Shapes[shape], partitions, events, seed, devices: 1, eventsPerSlide: shape == 0 ? 60 : 300), iter: 16, threads: 1);

    [Theory]
    [InlineData(0L)]
    [InlineData(253_402_300_000_000L - 86_400_000L)]
    public void Core_agrees_with_the_oracle_near_the_epoch_and_far_in_the_future(long origin)
    {
        foreach (var shape in Shapes) RunScenario(shape, 2, 600, 7, origin);
    }

    private static void RunScenario(
        (long Size, long Slide, long Lateness, long Bound) shape, int partitions, int events, int seed, long? origin = null, bool unkeyed = false,
        int eventsPerSlide = 6, int? devices = null)
    {
        var random = new Random(seed);
        var settings = new WindowSettings(new WindowSpec(shape.Size, shape.Slide), shape.Lateness);
        var harness = new WindowPipelineHarness(settings, shape.Bound);
        var oracle = new ExactWindowOracle(shape.Size, shape.Slide, shape.Lateness, shape.Bound);

        var valueMode = random.Next(4);
        var clocks = new long[partitions];
        var positions = new long[partitions];
        var start = origin ?? (random.Next(2) == 0 ? 0 : 1_764_307_200_000L + random.Next(1_000_000));
        for (var p = 0; p < partitions; p++) clocks[p] = start;
        var latest = start;

        for (var i = 0; i < events; i++)
        {
            var p = random.Next(partitions);
            var device = (unkeyed ? "" : $"p{p}-") + $"d{random.Next(devices ?? 1 + (seed & 0x7fff) % 5)}";
            clocks[p] += (long)(random.NextDouble() * shape.Slide * 2 / eventsPerSlide);
            var time = devices is null ? NextTime(random, clocks[p], shape) : NextDenseTime(random, clocks[p], shape);
            if (time > clocks[p]) clocks[p] = time;
            latest = Math.Max(latest, clocks[p]);
            var value = valueMode switch
            {
                0 => random.Next(0, 10_001) / 100.0,
                1 => random.NextDouble() * 100,
                2 => random.Next(0, 4) * 12.5,
                _ => 42.5,
            };
            harness.Record(p, positions[p], device, time, value);
            oracle.Record(p, positions[p], device, time, value);
            positions[p]++;

            var roll = random.Next(100);
            if (roll < 5) harness.TakeAll(time);
            else if (roll < 7) harness.Restart(device, time);
        }

        harness.FinishAll(latest + shape.Size + shape.Lateness + shape.Bound + 10 * shape.Slide);
        harness.TakeAll(latest);

        Assert.Equal(oracle.TooLate, harness.TooLate);
        var rows = harness.Rows;
        Assert.Equal(oracle.Windows.Keys.OrderBy(k => k), rows.Keys.OrderBy(k => k));
        foreach (var (key, expected) in oracle.Windows)
        {
            var row = rows[key];
            var context = $"seed {seed}, mode {valueMode}, {key}";
            Assert.True(expected.Count == row.Count, $"{context}: count {row.Count} != {expected.Count}");
            Assert.True(expected.Min == row.Min, context);
            Assert.True(expected.Max == row.Max, context);
            Assert.True(Math.Abs(expected.Mean - row.Mean) <= 1e-9 * Math.Max(1, Math.Abs(expected.Mean)), context);
            Assert.True(expected.Revision == row.Revision, $"{context}: revision {row.Revision} != {expected.Revision}");
            Assert.True(row.Final, context);
            Assert.Equal(expected.Start, row.WindowStart);
            double[] figures = [row.P50, row.P90, row.P95, row.P99];
            ValueRange[] bounds = [row.Bounds.P50, row.Bounds.P90, row.Bounds.P95, row.Bounds.P99];
            for (var q = 0; q < Quantiles.Length; q++)
            {
                var error = expected.RankError(Quantiles[q], figures[q]);
                var bound = expected.RankBound(Quantiles[q], repeatedValues: valueMode == 2);
                Assert.True(error <= bound, $"{context}: q={Quantiles[q]} -> {figures[q]} rank error {error} > {bound} (n={expected.Count})");
                var (lowest, highest) = expected.ExactAnswers(Quantiles[q]);
                Assert.True(bounds[q].Low <= lowest && highest <= bounds[q].High && bounds[q].Contains(figures[q]),
                    $"{context}: q={Quantiles[q]} bounds {bounds[q]} of {figures[q]} miss the exact [{lowest}, {highest}] (n={expected.Count})");
            }
        }
        Assert.All(harness.Devices, d => Assert.True(d.IsEmpty, $"seed {seed}: {d.DeviceId} still holds state after every window closed"));
    }

    /// <summary>A busy device's clock: mostly within the bound, some late, a few too late, rare jumps ahead.</summary>
    private static long NextDenseTime(Random random, long clock, (long Size, long Slide, long Lateness, long Bound) shape)
    {
        var roll = random.Next(100);
        long time = roll switch
        {
            < 85 => clock - (long)(random.NextDouble() * shape.Bound),
            < 95 => clock - shape.Bound - (long)(random.NextDouble() * (shape.Lateness + shape.Slide)),
            < 99 => clock - shape.Bound - shape.Lateness - (long)(random.NextDouble() * shape.Size),
            _ => clock + (long)(random.NextDouble() * shape.Slide),
        };
        return Math.Max(0, time);
    }

    private static long NextTime(Random random, long clock, (long Size, long Slide, long Lateness, long Bound) shape)
    {
        var roll = random.Next(100);
        long time = roll switch
        {
            < 60 => clock - (long)(random.NextDouble() * shape.Bound),
            < 75 => clock - shape.Bound - (long)(random.NextDouble() * (shape.Lateness + shape.Slide)),
            < 88 => clock - shape.Bound - shape.Lateness - (long)(random.NextDouble() * (shape.Size + 2 * shape.Slide)),
            < 93 => clock + (long)(random.NextDouble() * shape.Size),
            _ => clock,
        };
        return Math.Max(0, time);
    }
}
