using System.CommandLine;
using MetricsCollector.Kafka;

namespace MetricsCollector.Commands;

/// <summary>
/// `metrics-collector kafka`: the embedded Kafka-protocol broker on its own, for local clusters
/// and tests. Lines typed on standard input take brokers down and up (`down 1`, `up 1`), so an
/// operator or a test can rehearse a broker outage against running nodes.
/// </summary>
public static class KafkaCommand
{
    public static Command Create()
    {
        var partitions = new Option<int>("--partitions") { Description = "Partitions of each topic.", DefaultValueFactory = _ => ProductTopics.DefaultPartitions };
        var brokers = new Option<int>("--brokers") { Description = "Brokers in the mock cluster.", DefaultValueFactory = _ => 1 };
        var port = new Option<int?>("--port") { Description = "Fixed port of broker 1 (broker i gets port + i - 1), e.g. 39092; default: ports the kernel picks." };
        var rebalanceDelay = new Option<int>("--rebalance-delay-ms")
        {
            Description = "group.initial.rebalance.delay.ms: how long a new consumer group waits for more members (Kafka's default 3000).",
            DefaultValueFactory = _ => 3000,
        };
        var command = new Command("kafka", "Run the embedded Kafka-protocol broker (in memory) with the input, too-late and dead-letter topics, and print its bootstrap address.")
        {
            partitions,
            brokers,
            port,
            rebalanceDelay,
        };
        command.SetAction(async (parse, ct) =>
        {
            var count = parse.GetValue(partitions);
            if (count < 1)
            {
                Console.Error.WriteLine("--partitions must be at least 1");
                return 2;
            }
            if (parse.GetValue(port) is { } fixedPort && fixedPort is < 1 or > 65_535)
            {
                Console.Error.WriteLine("--port must be in 1..65535");
                return 2;
            }
            using var broker = EmbeddedKafka.Start(parse.GetValue(brokers), parse.GetValue(port));
            // As a node reads it: MC_RESULTS_TOPIC renames the results topic, empty turns it off.
            var results = Environment.GetEnvironmentVariable("MC_RESULTS_TOPIC") is { } named ? (named.Trim().Length == 0 ? null : named.Trim()) : ProductTopics.Results;
            ProductTopics.Create(broker, count, results: results);
            broker.SetGroupInitialRebalanceDelay(TimeSpan.FromMilliseconds(Math.Max(0, parse.GetValue(rebalanceDelay))));
            Console.WriteLine(broker.BootstrapServers);
            Console.Out.Flush();
            _ = Task.Run(() => ObeyAsync(broker, ct), ct);
            var stop = new TaskCompletionSource();
            using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(
                System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
            Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.TrySetResult(); };
            await stop.Task.WaitAsync(ct).ContinueWith(_ => { }, TaskScheduler.Default);
            return 0;
        });
        return command;
    }

    /// <summary>Runs `down N` / `up N` lines from standard input until it ends; answers each on standard output.</summary>
    private static async Task ObeyAsync(EmbeddedKafka broker, CancellationToken ct)
    {
        while (await Console.In.ReadLineAsync(ct) is { } line)
        {
            var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (words.Length == 0) continue;
            if (words.Length != 2 || !int.TryParse(words[1], System.Globalization.CultureInfo.InvariantCulture, out var id) || id < 1 || id > broker.Brokers)
            {
                Console.WriteLine($"? expected `down <broker>` or `up <broker>` with a broker in 1..{broker.Brokers}");
                continue;
            }
            switch (words[0])
            {
                case "down":
                    broker.SetBrokerDown(id);
                    Console.WriteLine($"broker {id} down");
                    break;
                case "up":
                    broker.SetBrokerUp(id);
                    Console.WriteLine($"broker {id} up");
                    break;
                default:
                    Console.WriteLine($"? unknown command `{words[0]}`; expected down or up");
                    break;
            }
            Console.Out.Flush();
        }
    }
}
