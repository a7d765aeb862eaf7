using Akka.Actor;
using Akka.Event;
using MetricsCollector.Core.Windows;
using MetricsCollector.Partitions;

namespace MetricsCollector.ReadSide;

/// <summary>
/// The cluster singleton behind <c>/metrics/top/{n}</c> without a window: it learns every
/// partition's watermark and the topic's partition count as the broker reports it, so it knows which
/// windows have fired on every partition of the topic, and serves
/// the latest of those that holds rows (after a finished replay the very latest fired window
/// is usually empty, and an empty answer would help nobody). It keeps the rows of that window
/// and newer ones in memory, ranked on demand and cached per figure. After a failover it starts
/// empty and answers from the store's index until rows arrive.
/// </summary>
public sealed class TopNActor : ReceiveActor
{
    private const int MaxWindows = 64;

    private readonly IResultStore _store;
    private readonly WindowSpec _spec;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<int, long> _watermarks = new();
    private readonly SortedDictionary<long, WindowRows> _windows = new();
    private long? _complete;
    private int? _partitions;

    public TopNActor(IResultStore store, WindowSpec spec)
    {
        _store = store;
        _spec = spec;

        Receive<PartitionWatermark>(OnWatermark);
        Receive<TopicPartitions>(topic =>
        {
            if (_partitions == topic.Count) return;
            _log.Info("The topic has {0} partitions", topic.Count);
            _partitions = topic.Count;
            Recompute();
        });
        Receive<RowsPublished>(published =>
        {
            var oldest = ServedEnd() ?? long.MinValue;
            foreach (var row in published.Rows)
            {
                if (row.WindowEnd < oldest) continue;
                if (!_windows.TryGetValue(row.WindowEnd, out var rows)) _windows[row.WindowEnd] = rows = new WindowRows();
                rows.Put(row);
            }
            // Bounded even while some partition has not reported yet.
            while (_windows.Count > MaxWindows) _windows.Remove(_windows.Keys.First());
        });
        Receive<GetTopN>(Answer);
    }

    public static Props Props(IResultStore store, WindowSpec spec) =>
        Akka.Actor.Props.Create(() => new TopNActor(store, spec));

    private void OnWatermark(PartitionWatermark report)
    {
        // A partition moving to another node restarts from its last checkpoint: never step back.
        if (_watermarks.TryGetValue(report.Partition, out var known) && known >= report.Watermark) return;
        _watermarks[report.Partition] = report.Watermark;
        Recompute();
    }

    /// <summary>
    /// The latest window end at or below every partition's watermark. A partition that has not reported
    /// (one just added) holds it where it was: the answer stays the last complete window meanwhile.
    /// </summary>
    private void Recompute()
    {
        if (_partitions is not { } partitions || partitions == 0) return;
        var lowest = long.MaxValue;
        for (var partition = 0; partition < partitions; partition++)
        {
            if (!_watermarks.TryGetValue(partition, out var watermark)) return;
            lowest = Math.Min(lowest, watermark);
        }
        if (lowest == long.MinValue) return;
        var end = _spec.LatestEndAtOrBefore(lowest);
        if (_complete == end) return;
        _complete = end;
        if (ServedEnd() is { } served)
            foreach (var stale in _windows.Keys.Where(k => k < served).ToList()) _windows.Remove(stale);
        _log.Debug("Windows ending at or before {0} have fired on every partition", end);
    }

    /// <summary>The latest window in memory that has fired everywhere.</summary>
    private long? ServedEnd()
    {
        if (_complete is not { } complete) return null;
        long? served = null;
        foreach (var end in _windows.Keys)
        {
            if (end > complete) break;
            served = end;
        }
        return served;
    }

    private void Answer(GetTopN query)
    {
        if (_complete is not { } complete)
        {
            Sender.Tell(new TopNAnswer([]));
            return;
        }
        if (ServedEnd() is { } served)
        {
            Sender.Tell(new TopNAnswer(_windows[served].Top(query.By, query.N)));
            return;
        }
        // The rows predate this singleton (a failover): the store's index answers.
        FromStoreAsync(complete, query).PipeTo(Sender, success: top => new TopNAnswer(top), failure: e => new Status.Failure(e));
    }

    private async Task<IReadOnlyList<WindowResult>> FromStoreAsync(long complete, GetTopN query)
    {
        foreach (var end in await _store.RecentWindowEndsAsync(MaxWindows))
            if (end <= complete) return await _store.TopAsync(end, query.By, query.N);
        return [];
    }

    /// <summary>
    /// The rows of one window, with each figure's first rows cached until a row changes. Only as many rows are
    /// ranked as asked for: at a slide boundary rows arrive in a batch after another, each batch voids the cache,
    /// and ranking a window of 100,000 devices whole for each query after each batch kept the top route waiting.
    /// </summary>
    private sealed class WindowRows
    {
        private readonly Dictionary<string, WindowResult> _rows = new();
        private readonly Dictionary<RankBy, WindowResult[]> _ranked = new();

        public void Put(WindowResult row)
        {
            if (_rows.TryGetValue(row.DeviceId, out var seen) && !NewerRevisionWins.Supersedes(row, seen)) return;
            _rows[row.DeviceId] = row;
            _ranked.Clear();
        }

        public WindowResult[] Top(RankBy by, int n)
        {
            // A cached ranking serves a query for as many rows or fewer, or any query when it holds every row.
            if (!_ranked.TryGetValue(by, out var ranked) || (ranked.Length < n && ranked.Length < _rows.Count))
            {
                ranked = by.Top(_rows.Values, n);
                _ranked[by] = ranked;
            }
            return ranked.Length <= n ? ranked : ranked[..n];
        }
    }
}
