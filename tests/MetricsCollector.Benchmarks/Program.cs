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
    case "memory":
        // Retained heap and snapshot size per active device (docs/benchmarks.md).
        return MemoryBenchmark.Run(args);
    case "kafka-raw":
        return await KafkaRawBenchmark.RunAsync(args);
    case "pipeline":
        // A whole node against the raw consumer on the same broker (docs/benchmarks.md).
        return await PipelineBenchmark.RunAsync(args);
    case "cluster-recovery":
        // kill -9 of a node until its partitions consume again on a survivor (docs/benchmarks.md).
        return await ClusterBenchmark.RecoveryAsync(args);
    case "cluster-throughput":
        // Events applied per second with 1, 2 and 3 node processes (docs/benchmarks.md).
        return await ClusterBenchmark.ThroughputAsync(args);
    case "results-topic":
        // What producing every row to the results topic costs per row (docs/benchmarks.md).
        return await BeyondBenchmark.ResultsTopicAsync(args);
    case "fleet":
        // /metrics/fleet: a window's merge at 10k devices, and a cached answer (docs/benchmarks.md).
        return await BeyondBenchmark.FleetAsync(args);
    case "http-load":
        // The REST API under an open-loop load (docs/benchmarks.md).
        return await HttpLoad.RunAsync(args[1..]);
}

// CS0436: the referenced node executable has a Program of its own; this file's is the one meant here.
#pragma warning disable CS0436
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
#pragma warning restore CS0436
return 0;
