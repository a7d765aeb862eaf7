using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Text.Json;
using MetricsCollector.Core.Windows;
using MetricsCollector.ReadSide;

namespace MetricsCollector.Tests.Api;

/// <summary>A SQLite store seeded once, and the API over it on real Kestrel.</summary>
[SuppressMessage("Reliability", "CA1001", Justification = "xunit disposes fixtures through IAsyncLifetime.DisposeAsync.")]
public sealed class ApiFixture : IAsyncLifetime
{
    public const long Minute = 60_000;
    public const long T0 = 1_764_307_800_000; // 2025-11-28T05:30:00Z
    public const int Windows = 12;

    private TempSqliteStore? _store;
    private ApiHost? _host;

    /// <summary>The row PRODUCT.md shows, alone in its device.</summary>
    public static readonly WindowResult Documented =
        new("device-11", T0 - 30 * Minute, T0, 49.8, 91.0, 97.1, 99.2, 0.4, 99.9, 50.2, 18000, 1, false, T0 + 5 * Minute + 123,
            new PercentileBounds(new(48.9, 50.6), new(90, 91.7), new(96.8, 97.4), new(98.9, 99.5)));

    /// <summary>d0..d4 in every window, d0 and d1 tied on p95; "dev é" tests an id that needs escaping in URLs.</summary>
    public static readonly IReadOnlyList<WindowResult> Rows =
    [
        Documented,
        .. Enumerable.Range(0, Windows).SelectMany(w => new[] { "d0", "d1", "d2", "d3", "d4", "dev é" }.Select((d, i) =>
            new WindowResult(d, T0 + (w - 30) * Minute, T0 + w * Minute,
                P50: 10 + i, P90: 60 - i, P95: i < 2 ? 80 : 80 - i * 5 + w, P99: 90 + i, Min: 1, Max: 99 - i, Mean: 40 + i * 2,
                Count: 100 * (i + 1), Revision: 1, Final: w < 5, LastUpdated: T0 + w * Minute + 1000, Bounds: PercentileBounds.Within(1, 99 - i)))),
    ];

    /// <summary>What the singleton holds: the last window.</summary>
    public static IReadOnlyList<WindowResult> LatestWindow => Rows.Where(r => r.WindowEnd == T0 + (Windows - 1) * Minute).ToList();

    public HttpClient Client => _host?.Client ?? throw new InvalidOperationException("Fixture not initialized.");

    public async Task InitializeAsync()
    {
        _store = await TempSqliteStore.CreateAsync(Rows);
        _host = await ApiHost.StartAsync(_store.Store, new InMemoryLatestTopN(LatestWindow));
    }

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }

        if (_store is not null)
        {
            await _store.DisposeAsync();
        }
    }
}

public sealed class MetricsApiTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private const long Minute = ApiFixture.Minute;
    private const long T0 = ApiFixture.T0;

    private HttpClient Client => fixture.Client;

    [Fact]
    public async Task A_row_is_written_exactly_as_PRODUCT_md_shows_it()
    {
        using var response = await Client.GetAsync(new Uri("/metrics/devices/device-11", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Assert.Equal(
            """{"deviceId":"device-11","windowStart":"2025-11-28T05:00:00.000Z","windowEnd":"2025-11-28T05:30:00.000Z","percentile95":97.1,"p50":49.8,"p90":91.0,"p99":99.2,"min":0.4,"max":99.9,"mean":50.2,"count":18000,"revision":1,"final":false,"lastUpdated":"2025-11-28T05:35:00.123Z","bounds":{"p50":[48.9,50.6],"p90":[90.0,91.7],"p95":[96.8,97.4],"p99":[98.9,99.5]}}""",
            await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Device_answers_its_latest_row_also_for_an_id_that_needs_escaping()
    {
        var row = await GetJsonAsync($"/metrics/devices/{Uri.EscapeDataString("dev é")}");

        Assert.Equal("dev é", row.GetProperty("deviceId").GetString());
        Assert.Equal("2025-11-28T05:41:00.000Z", row.GetProperty("windowEnd").GetString());
        Assert.False(row.GetProperty("final").GetBoolean());
    }

    [Theory]
    [InlineData("rack/7")]
    [InlineData("50%")]
    [InlineData("a%2Fb")]
    [InlineData("a b+c?d#e")]
    public async Task Any_valid_device_id_can_be_asked_for_once_escaped(string deviceId)
    {
        await using var store = await TempSqliteStore.CreateAsync([ApiFixture.Documented with { DeviceId = deviceId }]);
        await using var host = await ApiHost.StartAsync(store.Store, new InMemoryLatestTopN([]));

        foreach (var path in new[] { $"/metrics/devices/{Uri.EscapeDataString(deviceId)}", $"/metrics/devices/{Uri.EscapeDataString(deviceId)}/history" })
        {
            using var response = await host.Client.GetAsync(new Uri(path, UriKind.Relative));
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {body}");
            Assert.Contains(JsonSerializer.Serialize(deviceId), body, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Top_without_window_end_comes_from_the_latest_top_n_in_order()
    {
        var top = await GetJsonAsync("/metrics/top/3");

        Assert.Equal(["d2", "d0", "d1"], DeviceIds(top));
        Assert.All(top.EnumerateArray(), r => Assert.Equal("2025-11-28T05:41:00.000Z", r.GetProperty("windowEnd").GetString()));
        Assert.Equal(["d0", "d1", "d2", "d3", "d4", "dev é"], DeviceIds(await GetJsonAsync("/metrics/top/1000?by=max")));
        Assert.Equal(["dev é"], DeviceIds(await GetJsonAsync("/metrics/top/1?by=MEAN")));
    }

    [Fact]
    public async Task Top_is_an_empty_array_while_no_window_has_fired_everywhere()
    {
        await using var store = await TempSqliteStore.CreateAsync([]);
        await using var host = await ApiHost.StartAsync(store.Store, new InMemoryLatestTopN([]));

        using var response = await host.Client.GetAsync(new Uri("/metrics/top/10", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("[]", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("2025-11-28T05:33:00Z")]
    [InlineData("2025-11-28T05:33:00.000Z")]
    [InlineData("2025-11-28T06:33:00%2B01:00")]
    [InlineData("2025-11-28T06:33:00+01:00")]
    [InlineData("2025-11-28T05:33:00")]
    [InlineData("1764307980000")]
    [InlineData("2025-11-28T05:33Z")]
    public async Task Top_with_window_end_comes_from_the_store_whatever_the_time_format(string windowEnd)
    {
        var top = await GetJsonAsync($"/metrics/top/2?windowEnd={windowEnd}");

        Assert.Equal(["d0", "d1"], DeviceIds(top));
        Assert.All(top.EnumerateArray(), r => Assert.Equal("2025-11-28T05:33:00.000Z", r.GetProperty("windowEnd").GetString()));
    }

    [Theory]
    [InlineData("p50", new[] { "dev é", "d4" })]
    [InlineData("p90", new[] { "d0", "d1" })]
    [InlineData("p95", new[] { "d0", "d1" })]
    [InlineData("p99", new[] { "dev é", "d4" })]
    [InlineData("max", new[] { "d0", "d1" })]
    [InlineData("mean", new[] { "dev é", "d4" })]
    public async Task Top_ranks_by_the_figure_asked_for(string by, string[] expected)
    {
        var top = await GetJsonAsync($"/metrics/top/2?windowEnd={T0 + 3 * Minute}&by={by}");

        Assert.Equal(expected, DeviceIds(top));
    }

    [Fact]
    public async Task Top_of_a_window_without_rows_is_empty()
    {
        Assert.Empty((await GetJsonAsync($"/metrics/top/5?windowEnd={T0 + 100 * Minute}")).EnumerateArray());
    }

    [Fact]
    public async Task History_pages_run_newest_first_to_a_null_cursor()
    {
        var windowEnds = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = await GetJsonAsync($"/metrics/devices/d2/history?limit=5{(cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor))}");
            Assert.Equal(["items", "nextCursor"], page.EnumerateObject().Select(p => p.Name));
            windowEnds.AddRange(page.GetProperty("items").EnumerateArray().Select(r => r.GetProperty("windowEnd").GetString()!));
            cursor = page.GetProperty("nextCursor").GetString();
            pages++;
        }
        while (cursor is not null);

        Assert.Equal(3, pages);
        Assert.Equal(ApiFixture.Windows, windowEnds.Count);
        Assert.Equal(windowEnds.OrderDescending(StringComparer.Ordinal), windowEnds);
    }

    [Fact]
    public async Task History_defaults_to_100_and_takes_from_and_to_as_inclusive_times()
    {
        Assert.Equal(ApiFixture.Windows, (await GetJsonAsync("/metrics/devices/d2/history")).GetProperty("items").GetArrayLength());

        var page = await GetJsonAsync($"/metrics/devices/d2/history?from=2025-11-28T05:32:00Z&to={T0 + 4 * Minute}");

        Assert.Equal(
            ["2025-11-28T05:34:00.000Z", "2025-11-28T05:33:00.000Z", "2025-11-28T05:32:00.000Z"],
            page.GetProperty("items").EnumerateArray().Select(r => r.GetProperty("windowEnd").GetString()));
        Assert.Equal(JsonValueKind.Null, page.GetProperty("nextCursor").ValueKind);
    }

    [Fact]
    public async Task History_of_a_known_device_in_a_quiet_range_is_empty_not_404()
    {
        var page = await GetJsonAsync($"/metrics/devices/d2/history?from={T0 + 500 * Minute}");

        Assert.Equal(0, page.GetProperty("items").GetArrayLength());
    }

    [Theory]
    [InlineData("/metrics/devices/nobody")]
    [InlineData("/metrics/devices/nobody/history")]
    public async Task An_unknown_device_is_a_404_problem(string path)
    {
        var problem = await GetProblemAsync(path, HttpStatusCode.NotFound);

        Assert.Contains("nobody", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("x")]
    [InlineData("\U0001F600")] // 128 emoji: 256 UTF-16 code units, 128 characters as the input rule counts them
    public async Task A_device_id_of_128_characters_is_valid(string character)
    {
        var id = string.Concat(Enumerable.Repeat(character, 128));

        await GetProblemAsync($"/metrics/devices/{Uri.EscapeDataString(id)}", HttpStatusCode.NotFound);
        await GetProblemAsync($"/metrics/devices/{Uri.EscapeDataString(id + character)}", HttpStatusCode.BadRequest);
    }

    [Theory]
    [InlineData("/metrics/top/0", "n")]
    [InlineData("/metrics/top/1001", "n")]
    [InlineData("/metrics/top/abc", "n")]
    [InlineData("/metrics/top/-1", "n")]
    [InlineData("/metrics/top/1.5", "n")]
    [InlineData("/metrics/top/99999999999", "n")]
    [InlineData("/metrics/top/10?by=foo", "by")]
    [InlineData("/metrics/top/10?by=", "by")]
    [InlineData("/metrics/top/10?by=p95&by=max", "by")]
    [InlineData("/metrics/top/10?windowEnd=garbage", "windowEnd")]
    [InlineData("/metrics/top/10?windowEnd=2025-13-01T00:00:00Z", "windowEnd")]
    [InlineData("/metrics/top/10?windowEnd=", "windowEnd")]
    [InlineData("/metrics/devices/d2/history?from=yesterday", "from")]
    [InlineData("/metrics/devices/d2/history?to=28/11/2025", "to")]
    [InlineData("/metrics/devices/d2/history?from=20&to=10", "from")]
    [InlineData("/metrics/devices/d2/history?limit=0", "limit")]
    [InlineData("/metrics/devices/d2/history?limit=1001", "limit")]
    [InlineData("/metrics/devices/d2/history?limit=ten", "limit")]
    [InlineData("/metrics/devices/d2/history?cursor=garbage", "cursor")]
    [InlineData("/metrics/devices/d2/history?cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "cursor")]
    [InlineData("/metrics/devices/d2/history?cursor=", "cursor")]
    [InlineData("/metrics/devices/d2/history?cursor=%E2%82%AC%00", "cursor")]
    [InlineData("/metrics/devices/d2/history?cursor=AgAAAAAAAAAB", "cursor")]
    [InlineData("/metrics/devices/bad%01id", "deviceId")]
    [InlineData("/metrics/devices/bad%0Aid/history", "deviceId")]
    public async Task Every_bad_parameter_is_a_400_problem_that_names_it(string path, string parameter)
    {
        var problem = await GetProblemAsync(path, HttpStatusCode.BadRequest);

        Assert.StartsWith(parameter, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/metrics/devices/{0}")]
    [InlineData("/metrics/devices/{0}/history")]
    public async Task A_device_id_over_128_characters_is_a_400_problem(string template)
    {
        var problem = await GetProblemAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, template, new string('x', 129)), HttpStatusCode.BadRequest);

        Assert.StartsWith("deviceId", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_store_is_a_503_problem()
    {
        // A real PostgreSQL store pointed at a port where nothing listens.
        await using var store = new PostgresResultStore("Host=127.0.0.1;Port=1;Username=postgres;Timeout=2");
        await using var host = await ApiHost.StartAsync(store, new InMemoryLatestTopN([], new TimeoutException("top-N holder did not answer")));

        foreach (var path in new[] { "/metrics/devices/d1", "/metrics/devices/d1/history", $"/metrics/top/3?windowEnd={T0}", "/metrics/top/3" })
        {
            using var response = await host.Client.GetAsync(new Uri(path, UriKind.Relative));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task A_fault_behind_the_api_is_a_500_problem_and_the_node_keeps_answering()
    {
        await using var store = await TempSqliteStore.CreateAsync([]);
        await using var host = await ApiHost.StartAsync(store.Store, new InMemoryLatestTopN([], new InvalidOperationException("bug")));

        using var response = await host.Client.GetAsync(new Uri("/metrics/top/3", UriKind.Relative));
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);

        using var next = await host.Client.GetAsync(new Uri("/metrics/top/0", UriKind.Relative));
        Assert.Equal(HttpStatusCode.BadRequest, next.StatusCode);
    }

    [Fact]
    public async Task An_unknown_route_is_a_404_problem()
    {
        await GetProblemAsync("/metrics/nothing/here", HttpStatusCode.NotFound);
    }

    private static List<string> DeviceIds(JsonElement rows) =>
        rows.EnumerateArray().Select(r => r.GetProperty("deviceId").GetString()!).ToList();

    private async Task<JsonElement> GetJsonAsync(string path)
    {
        using var response = await Client.GetAsync(new Uri(path, UriKind.Relative));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private async Task<JsonElement> GetProblemAsync(string path, HttpStatusCode status)
    {
        using var response = await Client.GetAsync(new Uri(path, UriKind.Relative));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"{path}: {(int)response.StatusCode} {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body).RootElement.Clone();
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        return problem;
    }
}
