using System.Globalization;
using System.Text.RegularExpressions;
using MetricsCollector.Commands;
using MetricsCollector.Tests.Support;

namespace MetricsCollector.Tests.Load;

/// <summary>`metrics-collector load` run as a user runs it (its command line, in process) against a live node.</summary>
[Collection(LiveNodeCollection.Name)]
public sealed partial class LoadCommandTests(LiveNode live) : IDisposable
{
    private readonly string _reports = Directory.CreateTempSubdirectory("mc-load-").FullName;

    public void Dispose() => Directory.Delete(_reports, recursive: true);

    [Fact]
    public async Task Load_api_writes_a_report_whose_histogram_counts_every_request_sent_and_a_missed_threshold_fails_the_run()
    {
        var report = Path.Combine(_reports, "api");
        var exit = await RunAsync("api", "--url", live.Url.ToString(), "--rate", "40", "--duration", "3s", "--report", report,
            "--threshold", "p99<30s", "--threshold", "errors=0");

        Assert.Equal(0, exit);
        var summary = await File.ReadAllTextAsync(Path.Combine(report, "summary.md"));
        // 40 requests/s for 3 s: request i is due at i/40 s, so exactly 120 leave, each counted once.
        Assert.Equal(120, TotalCount(Path.Combine(report, "latency.hgrm")));
        Assert.Contains("120 in", summary, StringComparison.Ordinal);
        Assert.Equal(120, AnswersOf(summary, "200"));
        Assert.Contains("<svg", await File.ReadAllTextAsync(Path.Combine(report, "report.html")), StringComparison.Ordinal);

        var impossible = await RunAsync("api", "--url", live.Url.ToString(), "--rate", "20", "--duration", "1s",
            "--report", Path.Combine(_reports, "impossible"), "--threshold", "p50<1us");
        Assert.Equal(1, impossible);
        Assert.Contains("| p50<1us |", await File.ReadAllTextAsync(Path.Combine(_reports, "impossible", "summary.md")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_ingest_times_every_probe_event_until_a_row_served_by_the_api_counts_it()
    {
        var report = Path.Combine(_reports, "ingest");
        var exit = await RunAsync("ingest", "--bootstrap", live.Bootstrap, "--api", live.Url.ToString(),
            "--devices", "20", "--rate", "100", "--duration", "8s", "--probes", "3", "--probe-interval", "1s",
            "--poll-interval", "100ms", "--visible-timeout", "60s", "--report", report, "--threshold", "produce.p99<10s");

        var summary = await File.ReadAllTextAsync(Path.Combine(report, "summary.md"));
        Assert.True(exit == 0, summary);
        var probes = ProbesLine().Match(summary);
        Assert.True(probes.Success, summary);
        var sent = long.Parse(probes.Groups["sent"].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
        // Three probe devices, an event each per second for 8 s.
        Assert.InRange(sent, 3 * 8, 3 * 9);
        Assert.Equal(probes.Groups["sent"].Value, probes.Groups["seen"].Value);
        Assert.Equal(sent, TotalCount(Path.Combine(report, "visible.hgrm")));
        // A probe is counted once its window fires: at least the 5 s out-of-orderness bound after it was sent.
        Assert.True(Percentile(Path.Combine(report, "visible.hgrm"), 0) >= 4_000, "an event was seen before any window holding it could fire");
        Assert.Equal(800, TotalCount(Path.Combine(report, "produce.hgrm")));
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("0")]
    [InlineData("-5")]
    public void A_rate_that_is_not_a_positive_number_is_a_parse_error_naming_it(string rate)
    {
        var parsed = LoadCommand.Create().Parse(["api", "--rate", rate, "--duration", "1s"]);
        Assert.Contains(parsed.Errors, e => e.Message.Contains($"--rate takes a number of operations per second above 0, got '{rate}'", StringComparison.Ordinal));
    }

    private static async Task<int> RunAsync(params string[] args) => await LoadCommand.Create().Parse(args).InvokeAsync();

    private static long TotalCount(string hgrm) =>
        long.Parse(TotalCountLine().Match(File.ReadAllText(hgrm)).Groups["count"].Value, CultureInfo.InvariantCulture);

    /// <summary>The value (ms) on the .hgrm line of <paramref name="percentile"/> (0..1): the first line at or above it.</summary>
    private static double Percentile(string hgrm, double percentile) =>
        File.ReadAllLines(hgrm)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length >= 3 && double.TryParse(f[1], CultureInfo.InvariantCulture, out _) && double.TryParse(f[0], CultureInfo.InvariantCulture, out _))
            .Select(f => (Value: double.Parse(f[0], CultureInfo.InvariantCulture), Percentile: double.Parse(f[1], CultureInfo.InvariantCulture)))
            .First(l => l.Percentile >= percentile).Value;

    /// <summary>How many answers with <paramref name="status"/> the summary's route table lists, over all routes.</summary>
    private static long AnswersOf(string summary, string status) =>
        Regex.Matches(summary, $@"\b{status}×(?<n>\d+)").Sum(m => long.Parse(m.Groups["n"].Value, CultureInfo.InvariantCulture));

    [GeneratedRegex(@"Total count\s*=\s*(?<count>\d+)")]
    private static partial Regex TotalCountLine();

    [GeneratedRegex(@"(?<sent>[\d,]+) sent, (?<seen>[\d,]+) seen")]
    private static partial Regex ProbesLine();
}
