using System.Collections;
using System.Reflection;
using MetricsCollector.Configuration;
using MetricsCollector.Core.Windows;
using MetricsCollector.Ingest;
using MetricsCollector.Partitions;
using MetricsCollector.ReadSide;
using MetricsCollector.Tests.Api;
using MetricsCollector.Tests.Partitions;

namespace MetricsCollector.Tests.ReadSide;

/// <summary>
/// The fleet figures of a window are computed once, kept, computed once more when the window closes, and
/// never kept when the store failed; only windows the top-N holder knows to have fired everywhere are answered.
/// </summary>
public sealed class FleetCacheTests : IAsyncLifetime
{
    private const long End = 1_764_307_800_000;

    // 60 s windows sliding by 10 s, 5 s lateness.
    private static readonly CollectorSettings Settings = CollectorSettings.Load(null, new Hashtable
    {
        ["MC_WINDOW_SIZE"] = "60s", ["MC_WINDOW_SLIDE"] = "10s", ["MC_ALLOWED_LATENESS"] = "5s",
    });

    private static readonly WindowResult[] Rows =
    [
        new("a", End - 60_000, End, 10, 20, 30, 40, 1, 50, 20, 4, 1, true, End, PercentileBounds.Within(1, 50)),
        new("b", End - 60_000, End, 60, 70, 80, 90, 55, 99, 70, 6, 1, true, End, PercentileBounds.Within(55, 99)),
    ];

    private readonly SettableClock _clock = new(0);
    private readonly InputTopic _topic = new() { Partitions = 1 };
    private TempSqliteStore? _temp;
    private Counting _store = null!;

    public async Task InitializeAsync()
    {
        _temp = await TempSqliteStore.CreateAsync(Rows);
        _store = Counting.Around(_temp.Store);
    }

    public async Task DisposeAsync() => await _temp!.DisposeAsync();

    private FleetCache Cache() =>
        new((IResultStore)(object)_store, new InMemoryLatestTopN(Rows), new RowFinality(new StoreProgress(_temp!.Store), _topic, Settings, _clock), Settings);

    [Fact]
    public async Task A_window_is_computed_once_and_once_more_when_it_closes()
    {
        var cache = Cache();
        var first = await cache.GetAsync(null, null, default);
        var again = await cache.GetAsync(End, null, default);
        Assert.Equal((FleetStatus.Served, false, 2, 10L, 1.0, 99.0), (first.Status, first.Final, first.Figures!.Devices, first.Figures.Count, first.Figures.Min, first.Figures.Max));
        Assert.Same(first.Figures, again.Figures);
        Assert.Equal(1, _store.Calls("FleetAsync"));

        // Every partition has stored its watermark past the close: once more, now final, and kept.
        await new StoreProgress(_temp!.Store).SaveAsync(
            PartitionProgress.KeyOf(Settings.GroupId, Settings.Topic, 0), PartitionProgress.Beginning("cluster") with { FinalThrough = End + 5_000 });
        _clock.Now += 2_000;
        Assert.True((await cache.GetAsync(null, null, default)).Final);
        Assert.True((await cache.GetAsync(null, null, default)).Final);
        Assert.Equal(2, _store.Calls("FleetAsync"));

        // By a figure: one value per device, from the rows, computed once too.
        var byMax = await cache.GetAsync(End, RankBy.Max, default);
        await cache.GetAsync(End, RankBy.Max, default);
        Assert.Equal((2, 2L, 50.0, 99.0), (byMax.Figures!.Devices, byMax.Figures.Count, byMax.Figures.Min, byMax.Figures.Max));
        Assert.Equal(1, _store.Calls("TopAsync"));
    }

    [Fact]
    public async Task Only_windows_that_fired_everywhere_and_hold_rows_are_answered()
    {
        var cache = Cache();
        Assert.Equal(FleetStatus.NotFiredEverywhere, (await cache.GetAsync(End + 10_000, null, default)).Status);
        Assert.Equal(FleetStatus.NoRows, (await cache.GetAsync(End - 10_000, null, default)).Status);
        var nothingYet = new FleetCache(_temp!.Store, new InMemoryLatestTopN([]), new RowFinality(new StoreProgress(_temp.Store), _topic, Settings, _clock), Settings);
        Assert.Equal(FleetStatus.NothingFiredYet, (await nothingYet.GetAsync(null, null, default)).Status);
    }

    [Fact]
    public async Task A_failed_computation_is_not_kept()
    {
        var cache = Cache();
        _store.FailNext = true;
        await Assert.ThrowsAsync<StoreUnavailableException>(() => cache.GetAsync(null, null, default));
        Assert.Equal(FleetStatus.Served, (await cache.GetAsync(null, null, default)).Status);
        Assert.Equal(2, _store.Calls("FleetAsync"));
    }

    /// <summary>The real store, counting calls per method, and failing the next fleet computation when told.</summary>
    public class Counting : DispatchProxy
    {
        private readonly Dictionary<string, int> _calls = new();
        private IResultStore _inner = null!;

        public bool FailNext { get; set; }

        public static Counting Around(IResultStore inner)
        {
            var proxy = (Counting)(object)Create<IResultStore, Counting>();
            proxy._inner = inner;
            return proxy;
        }

        public int Calls(string method)
        {
            lock (_calls) return _calls.GetValueOrDefault(method);
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            lock (_calls) _calls[targetMethod!.Name] = _calls.GetValueOrDefault(targetMethod.Name) + 1;
            if (targetMethod.Name == nameof(IResultStore.FleetAsync) && FailNext)
            {
                FailNext = false;
                return Task.FromException<FleetFigures?>(new StoreUnavailableException("down", new InvalidOperationException()));
            }

            return targetMethod.Invoke(_inner, args);
        }
    }
}
