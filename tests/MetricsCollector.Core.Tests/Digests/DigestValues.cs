namespace MetricsCollector.Core.Tests.Digests;

/// <summary>The shapes of data the digest is tested on, generated from a seed.</summary>
internal enum ValueKind
{
    Uniform,
    Normal,
    /// <summary>CPU readings with two decimals: at most 10,001 distinct values in [0, 100].</summary>
    TwoDecimals,
    /// <summary>One to five distinct values, each repeated many times.</summary>
    FewDistinct,
    /// <summary>Whole percentages 0..100: 101 distinct values.</summary>
    Integers,
}

internal static class DigestValues
{
    public static double[] Generate(ValueKind kind, int n, Random random)
    {
        var distinct = random.Next(1, 6);
        var pool = new double[distinct];
        for (var i = 0; i < distinct; i++)
        {
            pool[i] = Math.Round(random.NextDouble() * 100, 2);
        }

        var values = new double[n];
        for (var i = 0; i < n; i++)
        {
            values[i] = kind switch
            {
                ValueKind.Uniform => random.NextDouble() * 100,
                ValueKind.Normal => 50 + (15 * Gaussian(random)),
                ValueKind.TwoDecimals => Math.Round(random.NextDouble() * 100, 2),
                ValueKind.FewDistinct => pool[random.Next(distinct)],
                _ => random.Next(0, 101),
            };
        }

        return values;
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
