namespace MetricsCollector.Core.Digests;

/// <summary>A closed interval <c>[Low, High]</c> of values.</summary>
public readonly record struct ValueRange(double Low, double High)
{
    public bool Contains(double value) => Low <= value && value <= High;

    /// <summary>The value of the interval nearest to <paramref name="value"/>.</summary>
    public double Clamp(double value) => Math.Clamp(value, Low, High);
}
