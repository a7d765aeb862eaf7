using BenchmarkDotNet.Attributes;
using MetricsCollector.Core.Digests;
using MetricsCollector.Core.Windows;
using MetricsCollector.ReadSide;

namespace MetricsCollector.Benchmarks;

/// <summary>
/// One window's rows of 2,000 devices through the SQLite result store in one batch, as the result writer
/// stores them (rows, parts and the results topic's outbox in one transaction), into a store that already
/// holds 40 windows of them: the first rows of a window that fired (inserts), its revisions (new figures,
/// so each row's entries in the six top-N indexes move), and its closing where nothing changed since (the
/// final form of the stored revision: half of all rows a node writes); and, once the results topic has
/// produced them, their outbox notes taken off. Per row.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(1)]
public class StoreWriteBenchmarks
{
    private const int Devices = 2_000;
    private const long Slide = 60_000;

    private string _path = "";
    private SqliteResultStore? _store;
    private long _end = 1_764_307_200_000;
    private List<WindowPart> _batch = [];

    private SqliteResultStore Store => _store ?? throw new InvalidOperationException("not set up");

    [GlobalSetup]
    public void Setup()
    {
        _path = Path.Combine(Path.GetTempPath(), $"mc-store-bench-{Guid.NewGuid():N}.db");
        _store = new SqliteResultStore($"Data Source={_path}") { KeepsResultsOutbox = true };
        Store.EnsureSchemaAsync().GetAwaiter().GetResult();
        for (var i = 0; i < 40; i++) Write(Parts(NextWindow(), revision: 1, final: true));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        foreach (var suffix in new[] { "", "-wal", "-shm" }) File.Delete(_path + suffix);
    }

    [IterationSetup(Target = nameof(FirstRows))]
    public void FirstRowsSetup() => _batch = Parts(NextWindow(), revision: 1, final: false);

    [IterationSetup(Target = nameof(Revisions))]
    public void RevisionsSetup()
    {
        var end = NextWindow();
        Write(Parts(end, revision: 1, final: false));
        _batch = Parts(end, revision: 2, final: false);
    }

    [IterationSetup(Target = nameof(ClosingsUnchanged))]
    public void ClosingsSetup()
    {
        var first = Parts(NextWindow(), revision: 1, final: false);
        Write(first);
        _batch = first.ConvertAll(p => p with { Row = p.Row with { Final = true, LastUpdated = p.Row.LastUpdated + 5_000 } });
    }

    [IterationSetup(Target = nameof(Produced))]
    public void ProducedSetup()
    {
        _batch = Parts(NextWindow(), revision: 1, final: false);
        Write(_batch);
    }

    [Benchmark(OperationsPerInvoke = Devices)]
    public int FirstRows() => Write(_batch);

    [Benchmark(OperationsPerInvoke = Devices)]
    public int Revisions() => Write(_batch);

    [Benchmark(OperationsPerInvoke = Devices)]
    public int ClosingsUnchanged() => Write(_batch);

    /// <summary>The results topic has produced a window's rows: their outbox notes go.</summary>
    [Benchmark(OperationsPerInvoke = Devices)]
    public int Produced()
    {
        Store.ResultsProducedAsync(_batch.ConvertAll(p => p.Row)).GetAwaiter().GetResult();
        return _batch.Count;
    }

    private int Write(List<WindowPart> parts) => Store.UpsertAsync(parts).GetAwaiter().GetResult().Count;

    private long NextWindow() => _end += Slide;

    /// <summary>Each device's part of the window ending <paramref name="end"/>: 120 readings, one more a revision.</summary>
    private static List<WindowPart> Parts(long end, int revision, bool final)
    {
        var parts = new List<WindowPart>(Devices);
        for (var d = 0; d < Devices; d++)
        {
            var random = new Random(HashCode.Combine(d, end));
            var digest = new TDigest();
            for (var i = 0; i < 119 + revision; i++) digest.Add(Math.Round(random.NextDouble() * 100, 2));
            var row = WindowResult.Of($"device-{d}", end - 30 * Slide, end, digest, revision, final, end + revision);
            parts.Add(new WindowPart(0, row, digest.ToBytes()));
        }

        return parts;
    }
}
