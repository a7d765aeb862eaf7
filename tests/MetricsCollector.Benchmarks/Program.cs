using BenchmarkDotNet.Running;
using MetricsCollector.Benchmarks;

// `dotnet run -c Release --project tests/MetricsCollector.Benchmarks -- --filter '*'` runs every benchmark.
// The commands below are measurements that are not BenchmarkDotNet timings.
switch (args.FirstOrDefault())
{
    case "accuracy":
        // The t-digest rank-error table.
        DigestAccuracy.Run(Console.Out);
        return 0;
    case "kafka-raw":
        return await KafkaRawBenchmark.RunAsync(args);
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
