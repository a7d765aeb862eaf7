using MetricsCollector.ReadSide;

namespace MetricsCollector.Tests.ReadSide;

public sealed class HistoryCursorTests
{
    [Theory]
    [InlineData(0L)]
    [InlineData(1_764_307_800_000L)]
    [InlineData(long.MinValue)]
    [InlineData(long.MaxValue)]
    public void A_cursor_survives_its_token(long before)
    {
        var token = new HistoryCursor(before).ToString();

        Assert.True(HistoryCursor.TryParse(token, out var parsed));
        Assert.Equal(before, parsed.Before);
        Assert.Matches("^[A-Za-z0-9_-]+$", token);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("garbage")]
    [InlineData("a")]
    [InlineData("AgAAAAAAAAAB")] // a well-formed token of another version
    [InlineData("AQAAAAAAAAAB==")]
    [InlineData("AQAAAAAAAAABAA")]
    [InlineData("€€€€€€€€€€€€")]
    public void Anything_else_is_refused_without_throwing(string? token)
    {
        Assert.False(HistoryCursor.TryParse(token, out _));
    }
}
