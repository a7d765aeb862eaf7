using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using MetricsCollector.Core.Digests;

namespace MetricsCollector.Benchmarks;

/// <summary>
/// t-digest costs: Add per value on three shapes of data (1e6 adds into a fresh digest per
/// invocation), one quantile, and serialization; the "Bytes" column is the serialized size of
/// the digest each benchmark builds.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(DigestConfig))]
public class DigestBenchmarks
{
    internal const int Values = 1_000_000;

    private double[] _uniform = [];
    private double[] _normal = [];
    private double[] _cpu = [];
    private TDigest _full = new();

    [GlobalSetup]
    public void Setup()
    {
        _uniform = DigestData.Uniform(Values, seed: 1);
        _normal = DigestData.Normal(Values, seed: 3);
        _cpu = DigestData.CpuTwoDecimals(Values, seed: 2);
        _full = Fill(_uniform);
        _full.Compact();
    }

    [Benchmark(OperationsPerInvoke = Values)]
    public long AddUniform() => Fill(_uniform).Count;

    [Benchmark(OperationsPerInvoke = Values)]
    public long AddNormal() => Fill(_normal).Count;

    [Benchmark(OperationsPerInvoke = Values)]
    public long AddCpuTwoDecimals() => Fill(_cpu).Count;

    [Benchmark]
    public double Quantile() => _full.Quantile(0.95);

    [Benchmark]
    public byte[] Serialize() => _full.ToBytes();

    internal static TDigest Fill(double[] values)
    {
        var digest = new TDigest();
        foreach (var value in values)
        {
            digest.Add(value);
        }

        return digest;
    }
}

/// <summary>
/// What a device actor does when a 30-minute window fires: merge its 30 one-minute panes
/// (compacted, as idle panes are) into a fresh digest and read p50, p90, p95 and p99 — pane
/// by pane as before, and with <see cref="TDigest.MergeAll"/>.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(DigestConfig))]
public class DigestWindowBenchmarks
{
    private const int Panes = 30;
    private TDigest[] _panes = [];

    [Params(60, 1_000)]
    public int PaneSize { get; set; }

    [GlobalSetup]
    public void Setup() => _panes = BuildPanes(PaneSize);

    /// <summary>The window build before <see cref="TDigest.MergeAll"/>: one Merge per pane, kept as the baseline.</summary>
    [Benchmark(Baseline = true)]
    public double MergeThirtyPanesAndQuery() => Query(MergeOneByOne(_panes));

    [Benchmark]
    public double MergeAllThirtyPanesAndQuery() => Query(TDigest.MergeAll(_panes));

    private static double Query(TDigest window) =>
        window.Quantile(0.5) + window.Quantile(0.9) + window.Quantile(0.95) + window.Quantile(0.99);

    internal static TDigest[] BuildPanes(int paneSize)
    {
        var values = DigestData.CpuTwoDecimals(Panes * paneSize, seed: 4);
        var panes = new TDigest[Panes];
        for (var p = 0; p < Panes; p++)
        {
            panes[p] = new TDigest();
            for (var i = 0; i < paneSize; i++)
            {
                panes[p].Add(values[(p * paneSize) + i]);
            }

            panes[p].Compact();
        }

        return panes;
    }

    internal static TDigest MergeOneByOne(TDigest[] panes)
    {
        var window = new TDigest();
        foreach (var pane in panes)
        {
            window.Merge(pane);
        }

        return window;
    }
}

internal sealed class DigestConfig : ManualConfig
{
    public DigestConfig() => AddColumn(new SerializedBytesColumn());

    /// <summary>Serialized size of the digest each benchmark builds (deterministic data).</summary>
    private sealed class SerializedBytesColumn : IColumn
    {
        public string Id => nameof(SerializedBytesColumn);
        public string ColumnName => "Bytes";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Size;
        public string Legend => "Serialized size of the digest the benchmark builds, in bytes";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            const int values = DigestBenchmarks.Values;
            var digest = benchmarkCase.Descriptor.WorkloadMethod.Name switch
            {
                nameof(DigestBenchmarks.AddNormal) => DigestBenchmarks.Fill(DigestData.Normal(values, seed: 3)),
                nameof(DigestBenchmarks.AddCpuTwoDecimals) => DigestBenchmarks.Fill(DigestData.CpuTwoDecimals(values, seed: 2)),
                nameof(DigestWindowBenchmarks.MergeThirtyPanesAndQuery) =>
                    DigestWindowBenchmarks.MergeOneByOne(DigestWindowBenchmarks.BuildPanes((int)benchmarkCase.Parameters["PaneSize"])),
                nameof(DigestWindowBenchmarks.MergeAllThirtyPanesAndQuery) =>
                    TDigest.MergeAll(DigestWindowBenchmarks.BuildPanes((int)benchmarkCase.Parameters["PaneSize"])),
                _ => DigestBenchmarks.Fill(DigestData.Uniform(values, seed: 1)),
            };
            return digest.GetSerializedSize().ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        public bool IsAvailable(Summary summary) => true;

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    }
}
