using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using MetricsCollector.Kafka;
using MetricsCollector.Load;

namespace MetricsCollector.Commands;

/// <summary>
/// `metrics-collector load api|ingest`: load runs against a running cluster, in the spirit of NBomber:
/// live progress, HdrHistogram percentiles, a report folder, and thresholds that set the exit code
/// (0 all held, 1 a threshold missed or probe events never seen, 2 the run could not start; an option
/// that cannot be read exits as System.CommandLine has it, 1 with the usage).
/// </summary>
public static class LoadCommand
{
    public static Command Create()
    {
        var command = new Command("load", "Load runs against a running cluster: `load api` (requests at a fixed rate) and `load ingest` (events into Kafka, timed until the API shows them).");
        command.Subcommands.Add(Api());
        command.Subcommands.Add(Ingest());
        return command;
    }

    private static Command Api()
    {
        var url = Url("--url", "Base URL of a node's REST API.");
        var rate = Rate("Requests per second (open loop: sent on schedule whatever the answers do).", 100);
        var duration = Duration("--duration", "How long to measure.", TimeSpan.FromSeconds(30));
        var warmup = Duration("--warmup", "Load at the same rate before measuring, not counted.", TimeSpan.Zero);
        var timeout = Duration("--timeout", "A request unanswered this long counts as an error.", TimeSpan.FromSeconds(10));
        var mix = new Option<RouteMix>("--mix")
        {
            Description = $"Weights of the routes ({string.Join(", ", RouteMix.Routes)}), e.g. top=1,device=5,history=1.",
            DefaultValueFactory = _ => RouteMix.Default,
            CustomParser = r => Parse(r, RouteMix.Parse),
        };
        var seed = new Option<int>("--seed") { Description = "Seed of the route and parameter choices.", DefaultValueFactory = _ => 42 };
        var (report, thresholds) = Outputs();
        var command = new Command("api", "Requests at a fixed rate over the result routes, with device ids and windows learned from the API; latency timed from each request's schedule.")
        {
            url, rate, duration, warmup, timeout, mix, seed, report, thresholds,
        };
        command.SetAction((parse, ct) => RunAsync(
            "api",
            parse.GetValue(report),
            parse.GetValue(thresholds)!,
            () => ApiScenario.RunAsync(
                new ApiLoadOptions(parse.GetValue(url)!, parse.GetValue(rate), parse.GetValue(duration), parse.GetValue(mix)!)
                {
                    Warmup = parse.GetValue(warmup),
                    Timeout = parse.GetValue(timeout),
                    Seed = parse.GetValue(seed),
                },
                ct)));
        return command;
    }

    private static Command Ingest()
    {
        var bootstrap = new Option<string>("--bootstrap") { Description = "Kafka bootstrap servers (default: MC_KAFKA_BOOTSTRAP).", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("MC_KAFKA_BOOTSTRAP") ?? "" };
        var topic = new Option<string>("--topic") { Description = "Input topic.", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("MC_TOPIC") is { Length: > 0 } t ? t : ProductTopics.Input };
        var api = Url("--api", "Base URL of a node's REST API, where the probe events are looked for.");
        var devices = new Option<int>("--devices") { Description = "Devices of the generated stream.", DefaultValueFactory = _ => 1000 };
        var rate = Rate("Events per second of the generated stream.", 1000);
        var duration = Duration("--duration", "How long to produce.", TimeSpan.FromSeconds(60));
        var seed = new Option<int>("--seed") { Description = "Seed of the generated stream.", DefaultValueFactory = _ => 42 };
        var probes = new Option<int>("--probes") { Description = "Probe devices of the run's own, whose events are followed until the API shows them.", DefaultValueFactory = _ => 5 };
        var probeInterval = Duration("--probe-interval", "Each probe device sends an event this often.", TimeSpan.FromSeconds(1));
        var pollInterval = Duration("--poll-interval", "How often the API is asked about the probe devices (the resolution of event → row visible).", TimeSpan.FromMilliseconds(250));
        var visibleTimeout = Duration("--visible-timeout", "How long after producing ends to wait for the last probe events to show.", TimeSpan.FromMinutes(10));
        var (report, thresholds) = Outputs();
        var command = new Command("ingest", "Events into Kafka at a steady rate (the generator), timing how long until probe events are counted in a row the API serves.")
        {
            bootstrap, topic, api, devices, rate, duration, seed, probes, probeInterval, pollInterval, visibleTimeout, report, thresholds,
        };
        command.SetAction((parse, ct) =>
        {
            var servers = parse.GetValue(bootstrap);
            if (string.IsNullOrWhiteSpace(servers))
            {
                Console.Error.WriteLine("load ingest: --bootstrap (or MC_KAFKA_BOOTSTRAP) is required");
                return Task.FromResult(2);
            }

            if (parse.GetValue(devices) < 1 || parse.GetValue(probes) < 1)
            {
                Console.Error.WriteLine("load ingest: --devices and --probes must be at least 1");
                return Task.FromResult(2);
            }

            return RunAsync(
                "ingest",
                parse.GetValue(report),
                parse.GetValue(thresholds)!,
                () => IngestScenario.RunAsync(
                    new IngestLoadOptions(servers, parse.GetValue(api)!, parse.GetValue(devices), parse.GetValue(rate), parse.GetValue(duration))
                    {
                        Topic = parse.GetValue(topic)!,
                        Seed = parse.GetValue(seed),
                        Probes = parse.GetValue(probes),
                        ProbeInterval = parse.GetValue(probeInterval),
                        PollInterval = parse.GetValue(pollInterval),
                        VisibleTimeout = parse.GetValue(visibleTimeout),
                    },
                    ct));
        });
        return command;
    }

    /// <summary>Runs a scenario, writes its report folder, prints the summary and judges the thresholds.</summary>
    private static async Task<int> RunAsync(string scenario, DirectoryInfo? folder, Threshold[] thresholds, Func<Task<LoadResult>> run)
    {
        LoadResult result;
        try
        {
            result = await run();
        }
        catch (LoadSetupException e)
        {
            Console.Error.WriteLine($"load {scenario}: {e.Message}");
            return 2;
        }

        var outcomes = thresholds.Select(t => t.Check(result)).ToList();
        var path = folder?.FullName ?? Path.GetFullPath($"load-report-{scenario}-{DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture)}");
        Console.WriteLine(LoadReport.Write(path, result, outcomes));
        Console.WriteLine($"Report: {path}");
        var missed = outcomes.Where(o => !o.Passed).ToList();
        foreach (var outcome in missed)
        {
            Console.Error.WriteLine($"load {scenario}: threshold {outcome.Threshold.Text} missed (observed {outcome.Observed})");
        }

        return missed.Count > 0 || result.Failures.Count > 0 ? 1 : 0;
    }

    private static (Option<DirectoryInfo?> Report, Option<Threshold[]> Thresholds) Outputs() =>
    (
        new Option<DirectoryInfo?>("--report") { Description = "Folder for summary.md, report.html and the .hgrm histograms (default: ./load-report-<scenario>-<time>)." },
        new Option<Threshold[]>("--threshold")
        {
            Description = $"A check that fails the run (exit code 1) when missed, e.g. 'p99<5ms', 'produce.p99<20ms', 'errors<1%', 'rate>=900'; repeatable. Syntax: {Threshold.Syntax}.",
            AllowMultipleArgumentsPerToken = false,
            DefaultValueFactory = _ => [],
            CustomParser = r => r.Tokens.Select(t => Parse(r, t.Value, Threshold.Parse)).ToArray(),
        }
    );

    private static Option<Uri> Url(string name, string description) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => new Uri("http://127.0.0.1:8080"),
        CustomParser = r => Parse(r, text => Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? uri
            : throw new FormatException($"{name} takes an http(s) URL such as http://127.0.0.1:8080, got '{text}'")),
    };

    private static Option<double> Rate(string description, double fallback) => new("--rate")
    {
        Description = description,
        DefaultValueFactory = _ => fallback,
        CustomParser = r => Parse(r, text => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var rate) && rate > 0 && double.IsFinite(rate)
            ? rate
            : throw new FormatException($"--rate takes a number of operations per second above 0, got '{text}'")),
    };

    private static Option<TimeSpan> Duration(string name, string description, TimeSpan fallback) => new(name)
    {
        Description = $"{description} ({Durations.Accepted}; default {Durations.Format(fallback)})",
        DefaultValueFactory = _ => fallback,
        CustomParser = r => Parse(r, text => Durations.TryParse(text, out var value) ? value : throw new FormatException($"{name} takes {Durations.Accepted}, got '{text}'")),
    };

    private static T Parse<T>(ArgumentResult result, Func<string, T> parse) => Parse(result, result.Tokens.Single().Value, parse);

    /// <summary>A parse failure becomes System.CommandLine's error (usage and exit code 2), not a stack trace.</summary>
    private static T Parse<T>(ArgumentResult result, string text, Func<string, T> parse)
    {
        try
        {
            return parse(text);
        }
        catch (FormatException e)
        {
            result.AddError(e.Message);
            return default!;
        }
    }
}
