namespace MetricsCollector.Benchmarks;

/// <summary>Seeded value sets for the digest benchmarks and the accuracy table.</summary>
public static class DigestData
{
    public static double[] Uniform(int n, int seed)
    {
        var random = new Random(seed);
        var values = new double[n];
        for (var i = 0; i < n; i++)
        {
            values[i] = random.NextDouble() * 100;
        }

        return values;
    }

    public static double[] Normal(int n, int seed)
    {
        var random = new Random(seed);
        var values = new double[n];
        for (var i = 0; i < n; i++)
        {
            values[i] = 50 + (15 * Gaussian(random));
        }

        return values;
    }

    /// <summary>
    /// What devices send: a busy-ish load around 55 % with a wide spread, clipped to [0, 100]
    /// (so 0 and 100 repeat a lot) and rounded to two decimals (at most 10,001 distinct values).
    /// </summary>
    public static double[] CpuTwoDecimals(int n, int seed)
    {
        var random = new Random(seed);
        var values = new double[n];
        for (var i = 0; i < n; i++)
        {
            values[i] = Math.Round(Math.Clamp(55 + (25 * Gaussian(random)), 0, 100), 2);
        }

        return values;
    }

    private static double Gaussian(Random random)
    {
        // Box–Muller; 1 − u keeps the logarithm's argument in (0, 1].
        var u = 1 - random.NextDouble();
        var v = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v);
    }
}
