namespace MetricsCollector.Kafka.Generation;

/// <summary>What to generate. Fractions are of all events and must add up to at most 1.</summary>
public sealed record GeneratorOptions
{
    public int Devices { get; init; } = 100;

    /// <summary>Events per second over all devices; also the event-time step (1/rate per event).</summary>
    public double Rate { get; init; } = 1000;

    /// <summary>Number of events; when null, <see cref="Duration"/> × <see cref="Rate"/>; when both are null, endless.</summary>
    public long? Count { get; init; }

    public TimeSpan? Duration { get; init; }

    /// <summary>
    /// When paced, event-time seconds per wall-clock second: above 1 with a start in the past it
    /// backfills at a pace a node and a broker of bounded retention can follow.
    /// </summary>
    public double Speed { get; init; } = 1;

    public int Seed { get; init; } = 42;

    /// <summary>Event time of the first event; null means now (read once, when the plan is made).</summary>
    public DateTimeOffset? EventTimeStart { get; init; }

    /// <summary>Up to the watermark bound behind the event-time clock: reordered, never late.</summary>
    public double OutOfOrderFraction { get; init; }

    /// <summary>Between the bound and bound + allowed lateness behind: updates windows that already fired.</summary>
    public double LateFraction { get; init; }

    /// <summary>Behind by more than bound + allowed lateness + window size (+ one slide of margin): too late for every window.</summary>
    public double TooLateFraction { get; init; }

    /// <summary>Records the decoder must reject; the kind rotates through <see cref="InvalidKind"/>.</summary>
    public double InvalidFraction { get; init; }

    public TimeSpan MaxOutOfOrderness { get; init; } = TimeSpan.FromMinutes(5);

    public TimeSpan AllowedLateness { get; init; } = TimeSpan.FromMinutes(5);

    public TimeSpan WindowSize { get; init; } = TimeSpan.FromMinutes(30);

    public TimeSpan WindowSlide { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Size of an oversized record's value; well above any sane event, below the producer's 1 MB limit.</summary>
    public int OversizedBytes { get; init; } = 256 * 1024;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Devices, 1);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Rate);
        if (!(Speed > 0) || double.IsInfinity(Speed))
        {
            throw new ArgumentOutOfRangeException(nameof(Speed), Speed, $"The speed (--speed) must be a finite number above 0, got {Speed}.");
        }
        foreach (var fraction in new[] { OutOfOrderFraction, LateFraction, TooLateFraction, InvalidFraction })
        {
            ArgumentOutOfRangeException.ThrowIfNegative(fraction);
        }

        if (OutOfOrderFraction + LateFraction + TooLateFraction + InvalidFraction > 1)
        {
            throw new ArgumentException("The fractions of out-of-order, late, too-late and invalid events add up to more than 1.");
        }
    }
}
