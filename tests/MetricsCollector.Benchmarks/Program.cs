using System.CommandLine;
using System.CommandLine.Invocation;
using BenchmarkDotNet.Running;
using MetricsCollector.Benchmarks;

var root = new RootCommand("""
    MetricsCollector's measurements (docs/benchmarks.md). The commands are measurements that are not
    BenchmarkDotNet timings. Without a command, the arguments go to BenchmarkDotNet's switcher:
    `--filter '*'` runs every benchmark, `--list flat` lists them (its options:
    https://benchmarkdotnet.org/articles/guides/console-args.html).
    """)
{
    DigestAccuracy.Command(),
    BoundsWidth.Command(),
    MemoryBenchmark.Command(),
    KafkaRawBenchmark.Command(),
    PipelineBenchmark.Command(),
    ClusterBenchmark.RecoveryCommand(),
    ClusterBenchmark.ThroughputCommand(),
    SnapshotBenchmark.Command(),
    YoungCollectionBenchmark.Command(),
    BeyondBenchmark.ResultsTopicCommand(),
    BeyondBenchmark.FleetCommand(),
    HttpLoad.Command(),
};
// BenchmarkDotNet's options (--filter, --job, --list ...) are its own: a line that names none of the
// commands, and does not ask for help, goes to its switcher as it came.
var parse = root.Parse(args);
if (parse.CommandResult.Command == root && parse.Action is null or ParseErrorAction)
{
    // CS0436: the referenced node executable has a Program of its own; this file's is the one meant here.
#pragma warning disable CS0436
    BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
#pragma warning restore CS0436
    return 0;
}

// As before System.CommandLine: Ctrl+C stops the process at once (a measurement has nothing to save),
// and an exception ends it with its stack trace rather than a handler's one-line exit code 1.
return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false });
