using BenchmarkDotNet.Running;
using MetricsCollector.Benchmarks;

// `dotnet run -c Release --project tests/MetricsCollector.Benchmarks -- http-load` runs the HTTP load (not a BenchmarkDotNet run).
if (args is ["http-load", .. var loadArgs])
{
    return await HttpLoad.RunAsync(loadArgs);
}

// `dotnet run -c Release --project tests/MetricsCollector.Benchmarks -- --filter '*'` runs every benchmark.
// CS0436: the referenced node executable has a Program of its own; this file's is the one meant here.
#pragma warning disable CS0436
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
#pragma warning restore CS0436
return 0;
