using Akka.Configuration;
using MetricsCollector.Kafka.Generation;

namespace MetricsCollector.Configuration;

/// <summary>The event generator that embedded mode runs so that one command shows the pipeline working.</summary>
public sealed record GeneratorSettings(
    int Devices,
    double Rate,
    TimeSpan Duration,
    int Seed,
    double OutOfOrder,
    double Late,
    double TooLate,
    double Invalid)
{
    /// <summary>The generator's plan for a node whose windows and bounds are <paramref name="node"/>'s.</summary>
    public GeneratorOptions ToOptions(CollectorSettings node) => new()
    {
        Devices = Devices,
        Rate = Rate,
        Duration = Duration > TimeSpan.Zero ? Duration : null,
        Seed = Seed,
        OutOfOrderFraction = OutOfOrder,
        LateFraction = Late,
        TooLateFraction = TooLate,
        InvalidFraction = Invalid,
        MaxOutOfOrderness = node.MaxOutOfOrderness,
        AllowedLateness = TimeSpan.FromMilliseconds(node.Windows.AllowedLateness),
        WindowSize = TimeSpan.FromMilliseconds(node.Windows.Spec.Size),
        WindowSlide = TimeSpan.FromMilliseconds(node.Windows.Spec.Slide),
    };

    public static GeneratorSettings FromConfig(Config c)
    {
        var settings = new GeneratorSettings(
            c.GetInt("devices", 1000),
            c.GetDouble("rate", 1000),
            c.GetTimeSpan("duration", TimeSpan.Zero),
            c.GetInt("seed", 42),
            c.GetDouble("out-of-order", 0),
            c.GetDouble("late", 0),
            c.GetDouble("too-late", 0),
            c.GetDouble("invalid", 0));
        if (settings.Devices < 1) throw new ConfigurationException("generator.devices must be at least 1");
        if (settings.Rate <= 0) throw new ConfigurationException("generator.rate must be positive");
        double[] fractions = [settings.OutOfOrder, settings.Late, settings.TooLate, settings.Invalid];
        if (fractions.Any(f => f is < 0 or > 1) || fractions.Sum() > 1)
            throw new ConfigurationException("generator fractions must each be in [0, 1] and add up to at most 1");
        return settings;
    }
}
