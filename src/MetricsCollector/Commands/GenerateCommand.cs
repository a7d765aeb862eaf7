using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Confluent.Kafka;
using MetricsCollector.Configuration;
using MetricsCollector.Kafka;
using MetricsCollector.Kafka.Generation;
using MetricsCollector.Load;

namespace MetricsCollector.Commands;

/// <summary>`metrics-collector generate`: produce a seeded stream of device events into Kafka and report what was sent, with progress while it runs.</summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var bootstrap = new Option<string>("--bootstrap") { Description = "Kafka bootstrap servers (default: MC_KAFKA_BOOTSTRAP).", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("MC_KAFKA_BOOTSTRAP") ?? "" };
        var topic = new Option<string>("--topic") { Description = "Topic to produce to.", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("MC_TOPIC") is { Length: > 0 } t ? t : ProductTopics.Input };
        var devices = new Option<int>("--devices") { Description = "Number of devices (device-0 ...).", DefaultValueFactory = _ => 100 };
        var rate = new Option<double>("--rate") { Description = "Events per second over all devices.", DefaultValueFactory = _ => 1000 };
        var duration = new Option<TimeSpan?>("--duration") { Description = "How long to produce (e.g. 00:01:00); with neither --duration nor --count, until stopped." };
        var count = new Option<long?>("--count") { Description = "How many events to produce." };
        var seed = new Option<int>("--seed") { Description = "Seed of the random plan.", DefaultValueFactory = _ => 42 };
        var start = new Option<DateTimeOffset?>("--start") { Description = "Event time of the first event (ISO-8601); default now." };
        var speed = new Option<double>("--speed") { Description = "Event-time seconds per wall-clock second when paced; with --start in the past, a paced backfill.", DefaultValueFactory = _ => 1 };
        var fast = new Option<bool>("--as-fast-as-possible") { Description = "Do not pace: event time advances 1/rate per event, records go out as fast as the broker takes them." };
        var outOfOrder = new Option<double>("--out-of-order") { Description = "Fraction reordered within the watermark bound." };
        var late = new Option<double>("--late") { Description = "Fraction late (within the allowed lateness)." };
        var tooLate = new Option<double>("--too-late") { Description = "Fraction too late for every window." };
        var invalid = new Option<double>("--invalid") { Description = "Fraction of invalid records." };
        var command = new Command("generate", "Produce device events into Kafka (keyed by device id, murmur2 partitioner) and report what was sent. MC_KAFKA_PROP_<NAME> variables pass librdkafka properties (SASL, TLS) to its producer.")
        {
            bootstrap, topic, devices, rate, duration, count, seed, start, speed, fast, outOfOrder, late, tooLate, invalid,
        };
        command.SetAction(async (parse, ct) =>
        {
            var servers = parse.GetValue(bootstrap);
            if (string.IsNullOrWhiteSpace(servers))
            {
                Console.Error.WriteLine("generate: --bootstrap (or MC_KAFKA_BOOTSTRAP) is required; `metrics-collector kafka` prints one");
                return 2;
            }
            GeneratorOptions options;
            EventPlan plan;
            try
            {
                options = new GeneratorOptions
                {
                    Devices = parse.GetValue(devices),
                    Rate = parse.GetValue(rate),
                    Duration = parse.GetValue(duration),
                    Count = parse.GetValue(count),
                    Seed = parse.GetValue(seed),
                    EventTimeStart = parse.GetValue(start),
                    Speed = parse.GetValue(speed),
                    OutOfOrderFraction = parse.GetValue(outOfOrder),
                    LateFraction = parse.GetValue(late),
                    TooLateFraction = parse.GetValue(tooLate),
                    InvalidFraction = parse.GetValue(invalid),
                };
                plan = new EventPlan(options);
            }
            catch (ArgumentException e)
            {
                // One line: an argument exception's message goes on with its parameter name and value.
                Console.Error.WriteLine($"generate: {e.Message.Split(" (Parameter '")[0].Split('\n')[0]}");
                return 2;
            }
            var clients = new KafkaClients(servers, KafkaClientProperties.FromEnvironment(Environment.GetEnvironmentVariables()));
            var progress = new GenerationProgress();
            var clock = Stopwatch.StartNew();
            GenerationReport report;
            await using (ConsoleProgress.Start(() => Line(progress, plan, clock.Elapsed)))
            {
                report = await EventGenerator.RunAsync(plan, clients.Producer(), parse.GetValue(topic)!, !parse.GetValue(fast), progress, ct);
            }

            Console.WriteLine(report);
            return report.Failed > 0 ? 1 : 0;
        });
        return command;
    }

    private static string Line(GenerationProgress progress, EventPlan plan, TimeSpan elapsed)
    {
        var sent = progress.Produced;
        var of = plan.Count is { } total ? string.Create(CultureInfo.InvariantCulture, $" of {total:N0}") : "";
        return string.Create(
            CultureInfo.InvariantCulture,
            $"generate {elapsed.TotalSeconds:0} s  sent {sent:N0}{of} ({sent / Math.Max(elapsed.TotalSeconds, 0.001):0}/s)  acked {progress.Delivered:N0}  errors {progress.Failed:N0}");
    }
}
