namespace MetricsCollector.Core.Windows;

/// <summary>Window shape plus how long a fired window still accepts late events.</summary>
public sealed record WindowSettings
{
    public WindowSettings(WindowSpec spec, long allowedLatenessMs, double compression = 100)
    {
        if (allowedLatenessMs < 0 || allowedLatenessMs > WindowSpec.MaxSizeMs)
            throw new ArgumentOutOfRangeException(nameof(allowedLatenessMs), allowedLatenessMs, "allowed lateness must be in [0, 366 days]");
        Spec = spec;
        AllowedLateness = allowedLatenessMs;
        Compression = compression;
    }

    public WindowSpec Spec { get; }
    public long AllowedLateness { get; }
    public double Compression { get; }

    /// <summary>The watermark at which the window ending at <paramref name="windowEnd"/> closes for good.</summary>
    public long CloseTimeOf(long windowEnd) => windowEnd + AllowedLateness;

    /// <summary>Where a window stands under watermark <paramref name="watermark"/>.</summary>
    public WindowPhase PhaseOf(long windowEnd, long watermark) =>
        watermark < windowEnd ? WindowPhase.Open
        : watermark < CloseTimeOf(windowEnd) ? WindowPhase.Fired
        : WindowPhase.Closed;

    /// <summary>
    /// An event is too late when even the last window holding it is closed; every earlier window
    /// then is too, because windows close in the order of their ends.
    /// </summary>
    public bool IsTooLate(long eventTime, long watermark) =>
        PhaseOf(Spec.LastEndOf(Spec.PaneOf(eventTime)), watermark) == WindowPhase.Closed;

    /// <summary>
    /// A pane can be dropped once the last window holding it is closed: no open or fired window
    /// can use it any more, and no event can reach it without being too late.
    /// </summary>
    public long DropTimeOf(long pane) => CloseTimeOf(Spec.LastEndOf(pane));

    public static WindowSettings Create(TimeSpan size, TimeSpan slide, TimeSpan allowedLateness, double compression = 100) =>
        new(new WindowSpec((long)size.TotalMilliseconds, (long)slide.TotalMilliseconds), (long)allowedLateness.TotalMilliseconds, compression);
}

/// <summary>
/// Open: the watermark is below the end, events count silently. Fired: the row exists and late
/// events revise it. Closed: the row is final and nothing changes it.
/// </summary>
public enum WindowPhase
{
    Open,
    Fired,
    Closed,
}
