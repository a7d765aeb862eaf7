namespace MetricsCollector.Core.Windows;

/// <summary>
/// The shape of the sliding windows and the arithmetic that assigns events to them.
/// Windows are <c>[start, start + Size)</c> with every start a multiple of <see cref="Slide"/>
/// (aligned to the Unix epoch), so the windows of an event at t are those whose start lies in
/// <c>(t − Size, t]</c>. Each slide-long stretch <c>[k·Slide, (k+1)·Slide)</c> is pane k; a window
/// is exactly <see cref="PanesPerWindow"/> consecutive panes, which is why an event is stored once
/// (in its pane) however many windows it belongs to.
/// All times are epoch milliseconds; division floors so that times before the epoch (windows
/// holding t = 0 start before it) land in the right pane.
/// </summary>
public readonly record struct WindowSpec
{
    /// <summary>Large enough for any real window, small enough that time arithmetic can never overflow.</summary>
    public const long MaxSizeMs = 366L * 24 * 3600 * 1000;

    public WindowSpec(long sizeMs, long slideMs)
    {
        if (slideMs <= 0) throw new ArgumentOutOfRangeException(nameof(slideMs), slideMs, "slide must be positive");
        if (sizeMs <= 0 || sizeMs > MaxSizeMs)
            throw new ArgumentOutOfRangeException(nameof(sizeMs), sizeMs, $"size must be in (0, {MaxSizeMs}] ms");
        if (sizeMs % slideMs != 0)
            throw new ArgumentException($"window size {sizeMs} ms is not a multiple of the slide {slideMs} ms", nameof(sizeMs));
        Size = sizeMs;
        Slide = slideMs;
    }

    public long Size { get; }
    public long Slide { get; }
    public int PanesPerWindow => (int)(Size / Slide);

    public long PaneOf(long time) => FloorDiv(time, Slide);

    public long PaneStart(long pane) => pane * Slide;

    /// <summary>The earliest-ending window that holds pane <paramref name="pane"/>: the one it closes.</summary>
    public long FirstEndOf(long pane) => (pane + 1) * Slide;

    /// <summary>The latest-ending window that holds pane <paramref name="pane"/>: the one it opens.</summary>
    public long LastEndOf(long pane) => pane * Slide + Size;

    public long StartOf(long windowEnd) => windowEnd - Size;

    /// <summary>The first pane of the window ending at <paramref name="windowEnd"/>.</summary>
    public long FirstPaneOf(long windowEnd) => FloorDiv(windowEnd - Size, Slide);

    /// <summary>The last pane of the window ending at <paramref name="windowEnd"/>.</summary>
    public long LastPaneOf(long windowEnd) => FloorDiv(windowEnd, Slide) - 1;

    /// <summary>Whether <paramref name="time"/> is a window end (every end is a multiple of the slide).</summary>
    public bool IsWindowEnd(long time) => time % Slide == 0;

    /// <summary>The smallest window end strictly greater than <paramref name="time"/>.</summary>
    public long NextEndAfter(long time) => (FloorDiv(time, Slide) + 1) * Slide;

    /// <summary>The largest window end at or before <paramref name="time"/>: the latest window a watermark at <paramref name="time"/> has fired.</summary>
    public long LatestEndAtOrBefore(long time) => FloorDiv(time, Slide) * Slide;

    private static long FloorDiv(long a, long b)
    {
        var q = a / b;
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
    }
}
