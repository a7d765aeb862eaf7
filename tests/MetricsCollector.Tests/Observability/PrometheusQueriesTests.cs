using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using MetricsCollector.Tests.EndToEnd;
using MetricsCollector.Tests.Support;
using MetricsCollector.Tests.Support.Processes;

namespace MetricsCollector.Tests.Observability;

/// <summary>
/// Debian's Prometheus scraping a running node with our alert rules loaded: every PromQL
/// expression of the Grafana dashboard and of the rules must parse, evaluate, and name only
/// metrics the node exposes. A renamed metric would otherwise leave a panel empty and an alert
/// silent, with nothing failing.
/// </summary>
[Collection(ObservedNodeCollection.Name)]
public sealed partial class PrometheusQueriesTests(ObservedNode observed)
{
    private const string PrometheusBinary = "/usr/bin/prometheus";

    // PromQL words that are not metric names: aggregations and their modifiers, binary operators, keywords.
    private static readonly HashSet<string> Keywords =
    [
        "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "group",
        "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset",
    ];

    [Fact]
    public async Task Every_expression_of_the_dashboard_and_the_alert_rules_parses_and_names_only_exposed_metrics()
    {
        Assert.True(File.Exists(PrometheusBinary), $"{PrometheusBinary} is missing: test.sh installs Debian's prometheus package");
        var work = Directory.CreateTempSubdirectory("mc-prometheus-").FullName;
        var port = NodeProcess.FreePort();
        var target = observed.Node.Http.BaseAddress!;
        await File.WriteAllTextAsync(Path.Combine(work, "prometheus.yml"), $"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            rule_files:
              - {Path.Combine(Repository.Root, "deploy", "prometheus", "alerts.yml")}
            scrape_configs:
              - job_name: metrics-collector
                static_configs:
                  - targets: ["{target.Host}:{target.Port}"]
            """);
        using var prometheus = Process.Start(new ProcessStartInfo(PrometheusBinary)
        {
            ArgumentList =
            {
                $"--config.file={Path.Combine(work, "prometheus.yml")}",
                $"--storage.tsdb.path={Path.Combine(work, "data")}",
                $"--web.listen-address=127.0.0.1:{port}",
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        }) ?? throw new InvalidOperationException("prometheus did not start");
        var log = prometheus.StandardError.ReadToEndAsync();
        using var api = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        try
        {
            // Three scrapes, so that every rate() over the node has points to work with.
            await PipelineEndToEndTests.WaitUntilAsync(
                async () => await TryQueryAsync(api, """count_over_time(up{job="metrics-collector"}[1m]) >= 3""") is { } result && result.GetArrayLength() == 1,
                TimeSpan.FromSeconds(60));
            var exposed = (await GetDataAsync(api, "/api/v1/label/__name__/values")).EnumerateArray().Select(n => n.GetString()!).ToHashSet();

            var rules = (await GetDataAsync(api, "/api/v1/rules")).GetProperty("groups").EnumerateArray()
                .SelectMany(g => g.GetProperty("rules").EnumerateArray())
                .Select(r => (Where: "rule " + r.GetProperty("name").GetString(), Expr: r.GetProperty("query").GetString()!))
                .ToList();
            Assert.True(rules.Count >= 9, $"Prometheus loaded {rules.Count} rules from deploy/prometheus/alerts.yml");
            var panels = DashboardExpressions();
            Assert.True(panels.Count >= 20, $"the dashboard has {panels.Count} expressions");

            var problems = new List<string>();
            foreach (var (where, expr) in rules.Concat(panels))
            {
                using var answer = await api.GetAsync(new Uri("/api/v1/query?query=" + Uri.EscapeDataString(expr), UriKind.Relative));
                var body = JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement;
                if (body.GetProperty("status").GetString() != "success")
                    problems.Add($"{where}: {expr}: {body.GetProperty("error").GetString()}");
                foreach (var name in MetricNames(expr).Where(n => !exposed.Contains(n)))
                    problems.Add($"{where}: {expr}: no series named {name}");
            }
            Assert.True(problems.Count == 0, string.Join('\n', problems));
        }
        finally
        {
            prometheus.Kill(entireProcessTree: true);
            await prometheus.WaitForExitAsync();
            _ = await log;
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public void Metric_names_are_found_in_an_expression_and_nothing_else()
    {
        Assert.Equal(
            new[] { "http_server_request_duration_seconds_bucket", "mc_records_behind", "up" },
            MetricNames("""
                histogram_quantile(0.99, sum by (le, http_route) (rate(http_server_request_duration_seconds_bucket{http_route=~"/metrics/.+"}[5m])))
                  / on (instance) group_left max(mc_records_behind offset 5m) and deriv(up[5m:30s]) > bool 1e3
                """).Order());
    }

    /// <summary>Metric names in a PromQL expression: identifiers that are not functions, keywords, label names or inside strings.</summary>
    internal static IEnumerable<string> MetricNames(string expr)
    {
        var bare = Quoted().Replace(expr, "\"\"");
        bare = Matchers().Replace(bare, "{}");
        bare = Grouping().Replace(bare, " ");
        bare = Ranges().Replace(bare, "");
        return Identifier().Matches(bare)
            .Where(m => !Keywords.Contains(m.Groups[1].Value) && !bare[(m.Index + m.Length)..].TrimStart().StartsWith('('))
            .Select(m => m.Groups[1].Value)
            .Where(name => !double.TryParse(name, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
            .Distinct();
    }

    private static List<(string Where, string Expr)> DashboardExpressions()
    {
        using var dashboard = JsonDocument.Parse(File.ReadAllText(Path.Combine(Repository.Root, "deploy", "grafana", "dashboards", "metrics-collector.json")));
        return dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .Where(p => p.TryGetProperty("targets", out _))
            .SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => ("panel " + p.GetProperty("title").GetString(), t.GetProperty("expr").GetString()!)))
            .ToList();
    }

    private static async Task<JsonElement?> TryQueryAsync(HttpClient api, string query)
    {
        try
        {
            var data = await GetDataAsync(api, "/api/v1/query?query=" + Uri.EscapeDataString(query));
            return data.GetProperty("result");
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    private static async Task<JsonElement> GetDataAsync(HttpClient api, string path)
    {
        var body = JsonDocument.Parse(await api.GetStringAsync(new Uri(path, UriKind.Relative))).RootElement;
        Assert.Equal("success", body.GetProperty("status").GetString());
        return body.GetProperty("data").Clone();
    }

    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"")]
    private static partial Regex Quoted();

    [GeneratedRegex(@"\{[^}]*\}")]
    private static partial Regex Matchers();

    [GeneratedRegex(@"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")]
    private static partial Regex Grouping();

    [GeneratedRegex(@"\[[^\]]*\]|\boffset\s+\w+")]
    private static partial Regex Ranges();

    [GeneratedRegex(@"(?<![\w.])([A-Za-z_:][\w:]*)")]
    private static partial Regex Identifier();
}
