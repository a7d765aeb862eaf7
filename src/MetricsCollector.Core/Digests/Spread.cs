namespace MetricsCollector.Core.Digests;

/// <summary>
/// What a centroid (or a weighted point on its way into one) holds besides its mean: how many
/// values, and the smallest and largest of them. The extremes are exact values that were added,
/// kept through every merge, so that a digest can say for certain between which values a rank
/// lies (<see cref="TDigest.QuantileBounds"/>), where its mean alone can only estimate it.
/// </summary>
internal struct Spread(double weight, double min, double max)
{
    public double Weight = weight;
    public double Min = min;
    public double Max = max;

    /// <summary><paramref name="weight"/> copies of one value.</summary>
    public static Spread Of(double value, double weight) => new(weight, value, value);

    /// <summary>Takes <paramref name="other"/>'s values into this one's count and extremes.</summary>
    public void Absorb(in Spread other)
    {
        Weight += other.Weight;
        Min = Math.Min(Min, other.Min);
        Max = Math.Max(Max, other.Max);
    }
}
