using BenchmarkDotNet.Running;
using MetricsCollector.Benchmarks;

// `dotnet run -c Release --project tests/MetricsCollector.Benchmarks -- --filter '*'` runs every benchmark.
// `... -- accuracy` prints the t-digest rank-error table instead (not a timing benchmark).
if (args.Length > 0 && args[0] == "accuracy")
{
    DigestAccuracy.Run(Console.Out);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
