using System.CommandLine;
using Akka.Configuration;
using MetricsCollector.Commands;

var root = new RootCommand("MetricsCollector: per-device CPU-usage percentiles over sliding event-time windows, from Kafka.");
var run = RunCommand.Create();
root.Subcommands.Add(run);
root.Subcommands.Add(KafkaCommand.Create());
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(LoadCommand.Create());
// `run` is the default: its options and action also stand on the root command.
foreach (var option in run.Options) root.Options.Add(option);
root.Action = run.Action;

try
{
    return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
}
catch (ConfigurationException e)
{
    Console.Error.WriteLine($"metrics-collector: configuration error: {e.Message}");
    return 2;
}
