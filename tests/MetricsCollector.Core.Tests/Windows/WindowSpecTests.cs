using MetricsCollector.Core.Windows;

namespace MetricsCollector.Core.Tests.Windows;

public sealed class WindowSpecTests
{
    private static readonly WindowSpec ThirtyByOne = new(30 * 60_000, 60_000);

    [Fact]
    public void An_event_belongs_to_size_over_slide_windows_whose_start_is_in_t_minus_size_to_t()
    {
        var t = 1_764_307_212_345L;
        var pane = ThirtyByOne.PaneOf(t);
        var ends = new List<long>();
        for (var end = ThirtyByOne.FirstEndOf(pane); end <= ThirtyByOne.LastEndOf(pane); end += ThirtyByOne.Slide) ends.Add(end);

        Assert.Equal(30, ends.Count);
        Assert.All(ends, end =>
        {
            var start = ThirtyByOne.StartOf(end);
            Assert.True(start > t - ThirtyByOne.Size && start <= t);
            Assert.Equal(0, start % ThirtyByOne.Slide);
        });
    }

    [Theory]
    [InlineData(0L, 0L)]
    [InlineData(59_999L, 0L)]
    [InlineData(60_000L, 1L)]
    [InlineData(-1L, -1L)]
    [InlineData(-60_000L, -1L)]
    [InlineData(-60_001L, -2L)]
    public void Panes_floor_also_before_the_epoch(long time, long pane) => Assert.Equal(pane, ThirtyByOne.PaneOf(time));

    [Fact]
    public void Windows_holding_time_zero_start_before_the_epoch()
    {
        var pane = ThirtyByOne.PaneOf(0);
        Assert.Equal(60_000, ThirtyByOne.FirstEndOf(pane));
        Assert.Equal(-29 * 60_000, ThirtyByOne.StartOf(ThirtyByOne.FirstEndOf(pane)));
        Assert.Equal(0, ThirtyByOne.StartOf(ThirtyByOne.LastEndOf(pane)));
    }

    [Fact]
    public void A_window_is_exactly_its_panes()
    {
        var end = 1_764_309_000_000L;
        Assert.Equal(ThirtyByOne.PaneOf(end - ThirtyByOne.Size), ThirtyByOne.FirstPaneOf(end));
        Assert.Equal(ThirtyByOne.PaneOf(end - 1), ThirtyByOne.LastPaneOf(end));
        Assert.Equal(30, ThirtyByOne.LastPaneOf(end) - ThirtyByOne.FirstPaneOf(end) + 1);
    }

    [Theory]
    [InlineData(1_764_309_000_000L, 1_764_309_000_000L)]
    [InlineData(1_764_309_000_001L, 1_764_309_000_000L)]
    [InlineData(1_764_309_059_999L, 1_764_309_000_000L)]
    [InlineData(-1L, -60_000L)]
    public void The_latest_end_at_or_before_a_time_is_the_end_just_behind_the_next(long time, long expected)
    {
        Assert.Equal(expected, ThirtyByOne.LatestEndAtOrBefore(time));
        Assert.True(ThirtyByOne.IsWindowEnd(ThirtyByOne.LatestEndAtOrBefore(time)));
        Assert.Equal(ThirtyByOne.NextEndAfter(time) - ThirtyByOne.Slide, ThirtyByOne.LatestEndAtOrBefore(time));
    }

    [Fact]
    public void Far_future_times_do_not_overflow()
    {
        var t = 253_402_300_799_999L;
        var pane = ThirtyByOne.PaneOf(t);
        Assert.True(ThirtyByOne.LastEndOf(pane) > t);
        Assert.Equal(ThirtyByOne.LastEndOf(pane), ThirtyByOne.NextEndAfter(t) + ThirtyByOne.Size - ThirtyByOne.Slide);
    }

    [Theory]
    [InlineData(60_000L, 0L)]
    [InlineData(0L, 1_000L)]
    [InlineData(90_000L, 60_000L)]
    [InlineData(-60_000L, 60_000L)]
    public void Bad_shapes_are_refused(long size, long slide) =>
        Assert.ThrowsAny<ArgumentException>(() => new WindowSpec(size, slide));

    [Fact]
    public void Tumbling_windows_are_one_pane()
    {
        var tumbling = new WindowSpec(10_000, 10_000);
        Assert.Equal(1, tumbling.PanesPerWindow);
        Assert.Equal(tumbling.FirstEndOf(3), tumbling.LastEndOf(3));
    }
}
