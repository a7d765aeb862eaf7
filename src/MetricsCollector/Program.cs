using System.CommandLine;
using Akka.Configuration;
using MetricsCollector.Commands;

var root = new RootCommand("MetricsCollector: per-device CPU-usage percentiles over sliding event-time windows, from Kafka.");
var run = RunCommand.Create();
root.Subcommands.Add(run);
root.Subcommands.Add(KafkaCommand.Create());
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(LoadCommand.Create());
root.Subcommands.Add(ReconcileCommand.Create());
// `run` is the default: its options and action also stand on the root command.
foreach (var option in run.Options) root.Options.Add(option);
root.Action = run.Action;

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0 && !args.Any(a => a is "-h" or "--help" or "-?"))
{
    // A command line is configuration too: one line naming what is wrong, exit code 2, as for a bad variable.
    Console.Error.WriteLine($"metrics-collector: {string.Join("; ", parsed.Errors.Select(e => e.Message))} (see --help)");
    return 2;
}

try
{
    // System.CommandLine's own exception handler would catch every exception of an action, print
    // it with its stack trace and return 1, so a configuration error would never reach the catch below.
    return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (ConfigurationError(e) is { } error)
{
    // One line, no stack trace: the message names the variable or key and what it accepts.
    Console.Error.WriteLine($"metrics-collector: configuration error: {string.Join(' ', error.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))}");
    return 2;
}
catch (Exception e)
{
    Console.Error.WriteLine($"metrics-collector: {e}");
    return 1;
}

// Akka reports a bad value of an akka { } section when the actor system starts, wrapped by the host.
static ConfigurationException? ConfigurationError(Exception e) => e switch
{
    ConfigurationException found => found,
    AggregateException aggregate => aggregate.InnerExceptions.Select(ConfigurationError).FirstOrDefault(found => found is not null),
    { InnerException: { } inner } => ConfigurationError(inner),
    _ => null,
};
