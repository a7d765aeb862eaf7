using System.CommandLine;
using MetricsCollector.Kafka;

namespace MetricsCollector.Commands;

/// <summary>`metrics-collector kafka`: the embedded Kafka-protocol broker on its own, for local clusters and tests.</summary>
public static class KafkaCommand
{
    public static Command Create()
    {
        var partitions = new Option<int>("--partitions") { Description = "Partitions of each topic.", DefaultValueFactory = _ => ProductTopics.DefaultPartitions };
        var brokers = new Option<int>("--brokers") { Description = "Brokers in the mock cluster.", DefaultValueFactory = _ => 1 };
        var port = new Option<int?>("--port") { Description = "Fixed port of broker 1 (broker i gets port + i - 1), e.g. 39092; default: ports the kernel picks." };
        var command = new Command("kafka", "Run the embedded Kafka-protocol broker (in memory) with the input, too-late and dead-letter topics, and print its bootstrap address.")
        {
            partitions,
            brokers,
            port,
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
            ProductTopics.Create(broker, count);
            Console.WriteLine(broker.BootstrapServers);
            Console.Out.Flush();
            var stop = new TaskCompletionSource();
            using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(
                System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
            Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.TrySetResult(); };
            await stop.Task.WaitAsync(ct).ContinueWith(_ => { }, TaskScheduler.Default);
            return 0;
        });
        return command;
    }
}
