using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using MetricsCollector.Tests.Support;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace MetricsCollector.Tests.wwwroot;

/// <summary>
/// The live page at `/` in a real headless Chromium (Debian's `chromium`, which test.sh installs; Playwright
/// drives it through its executable path and downloads no browser), against a node ingesting from its generator.
/// </summary>
[Collection(LiveNodeCollection.Name)]
public sealed class LivePageTests(LiveNode live, ITestOutputHelper output)
{
    private const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task The_page_shows_the_api_top_10_and_a_device_history_with_one_point_per_row()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: apt-get install -y chromium (test.sh does)");
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1400, Height = 900 } });
        var scriptErrors = new List<string>();
        page.PageError += (_, error) => scriptErrors.Add(error);
        await page.GotoAsync(new Uri(live.Url, "/").ToString());

        // The page refreshes every 5 s and the API moves on with each window, so compare a table and an
        // answer read close together, until they agree.
        var top = await EventuallyAsync(async () =>
        {
            var api = (await live.Node.Http.GetFromJsonAsync<JsonElement>("/metrics/top/10")).EnumerateArray()
                .Select(r => (Device: r.GetProperty("deviceId").GetString()!, P95: r.GetProperty("percentile95").GetDouble()))
                .ToList();
            var shown = await page.Locator("#top tbody tr").EvaluateAllAsync<string[][]>(
                "rows => rows.map(r => [r.cells[1].textContent, r.cells[4].textContent])");
            // The page rounds figures to two decimals.
            var same = api.Count == 10 && shown.Length == 10
                && api.Select((row, i) => row.Device == shown[i][0] && Math.Abs(row.P95 - double.Parse(shown[i][1], CultureInfo.InvariantCulture)) <= 0.0051).All(same => same);
            return (same, api.Select(r => r.Device).ToList());
        });
        Assert.Equal("ready", await page.Locator("#ready").TextContentAsync());
        Assert.Equal(10, await page.Locator("#status [data-partition]").CountAsync());

        var device = top[3];
        await page.Locator("#device").FillAsync(device);
        await page.Locator("#search button").ClickAsync();
        var points = await EventuallyAsync(async () =>
        {
            var history = (await live.Node.Http.GetFromJsonAsync<JsonElement>($"/metrics/devices/{device}/history?limit=1000"))
                .GetProperty("items").EnumerateArray().Select(r => r.GetProperty("windowEnd").GetString()!).Order(StringComparer.Ordinal).ToList();
            var drawn = await page.Locator("#chart circle[data-series=p95]").EvaluateAllAsync<string[]>("dots => dots.map(d => d.dataset.windowEnd)");
            return (history.Count > 1 && history.SequenceEqual(drawn.Order(StringComparer.Ordinal)), history);
        });
        Assert.EndsWith($"#device={device}", page.Url, StringComparison.Ordinal);
        Assert.Equal(points.Count, await page.Locator("#chart circle[data-series=p50]").CountAsync());
        Assert.Equal(points.Count, await page.Locator("#chart circle[data-series=p99]").CountAsync());
        Assert.Equal(points.Count, await page.Locator("#chart rect[data-series=count]").CountAsync());

        var screenshot = Path.Combine(AppContext.BaseDirectory, "live-page.png");
        await page.ScreenshotAsync(new() { Path = screenshot, FullPage = true });
        output.WriteLine($"screenshot: {screenshot}");
        Assert.Empty(scriptErrors);
    }

    private static async Task<T> EventuallyAsync<T>(Func<Task<(bool Holds, T Value)>> check)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var (holds, value) = await check();
            if (holds) return value;
            Assert.True(DateTime.UtcNow < deadline, $"not within 30 s; last seen {JsonSerializer.Serialize(value)}");
            await Task.Delay(500);
        }
    }
}
