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

    internal static GeneratorSettings FromConfig(SettingsReader c)
    {
        var settings = new GeneratorSettings(
            c.Int("generator.devices", 1, 10_000_000),
            c.Double("generator.rate", 0.001, 10_000_000),
            c.Duration("generator.duration", TimeSpan.Zero, TimeSpan.FromDays(3660)),
            c.Int("generator.seed", int.MinValue, int.MaxValue),
            c.Double("generator.out-of-order", 0, 1),
            c.Double("generator.late", 0, 1),
            c.Double("generator.too-late", 0, 1),
            c.Double("generator.invalid", 0, 1));
        if (settings.OutOfOrder + settings.Late + settings.TooLate + settings.Invalid > 1)
            throw new ConfigurationException($"{SettingsReader.Root}.generator: out-of-order, late, too-late and invalid must add up to at most 1");
        return settings;
    }
}
