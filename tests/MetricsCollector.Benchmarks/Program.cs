using BenchmarkDotNet.Running;

// `dotnet run -c Release --project tests/MetricsCollector.Benchmarks -- --filter '*'` runs every benchmark.
if (args.Length > 0 && args[0] == "kafka-raw")
{
    return await KafkaRawBenchmark.RunAsync(args);
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
