using System.Diagnostics;
using System.Globalization;

namespace MetricsCollector.Tests.Support.Processes;

/// <summary>
/// A cluster of `metrics-collector run` processes on one broker and one PostgreSQL database.
/// Every node lists the first three as seed nodes, so any of them, restarted, joins the running
/// cluster instead of forming one of its own.
/// </summary>
public sealed class ProcessCluster : IAsyncDisposable
{
    private const int Seeds = 3;
    private readonly List<NodeProcess> _nodes = [];
    private readonly int[] _seedPorts = Enumerable.Range(0, Seeds).Select(_ => NodeProcess.FreePort()).ToArray();
    private readonly Dictionary<string, string> _environment;
    private readonly string _workDir;
    private readonly string _hocon;

    /// <param name="hocon">The nodes' extra configuration; by default the tests' frequent snapshots, which make every crash replay.</param>
    public ProcessCluster(string bootstrap, string postgresConnection, string workDir, IReadOnlyDictionary<string, string>? environment = null, string? hocon = null)
    {
        _workDir = workDir;
        _hocon = hocon ?? NodeEnvironment.TestHocon;
        _environment = NodeEnvironment.For(bootstrap, "postgresql", postgresConnection);
        _environment["MC_SEED_NODES"] = string.Join(',', _seedPorts.Select(p => $"127.0.0.1:{p}"));
        // The tests' events start an hour in the past. A partition that idles for the idle timeout
        // moves its watermark to the wall clock, after which all of them would be too late: the
        // timeout must outlast starting the nodes and a 20 s outage, and the last windows close
        // that much after the stream ends.
        _environment["MC_IDLE_TIMEOUT"] = "30s";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) _environment[key] = value;
    }

    public IReadOnlyList<NodeProcess> Nodes => _nodes;

    public IEnumerable<NodeProcess> Running => _nodes.Where(n => n.Running);

    /// <summary>Adds a node and starts it; the first one forms the cluster, the others join it.</summary>
    public async Task<NodeProcess> AddNodeAsync()
    {
        var index = _nodes.Count;
        var clusterPort = index < Seeds ? _seedPorts[index] : NodeProcess.FreePort();
        var node = new NodeProcess($"node{index + 1}", _environment, _workDir, clusterPort, NodeProcess.FreePort(), _hocon);
        _nodes.Add(node);
        await node.StartAsync();
        return node;
    }

    /// <summary>Starts <paramref name="count"/> nodes: the first alone (it forms the cluster), then the rest together.</summary>
    public async Task StartAsync(int count)
    {
        await AddNodeAsync();
        var rest = new List<Task>();
        for (var i = 1; i < count; i++) rest.Add(AddNodeAsync());
        await Task.WhenAll(rest);
    }

    /// <summary>Waits until every running node consumes a share and together they consume all <paramref name="partitions"/>.</summary>
    public async Task WaitUntilBalancedAsync(int partitions, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var shares = new List<IReadOnlySet<int>>();
            foreach (var node in Running) shares.Add(await node.PartitionsAsync());
            if (shares.All(s => s.Count > 0) && shares.SelectMany(s => s).Distinct().Count() == partitions) return;
            if (clock.Elapsed > timeout)
                throw new TimeoutException($"partitions not spread over the {shares.Count} running nodes within {timeout}: "
                    + string.Join(" | ", shares.Select(s => string.Join(",", s.Order()))) + "\n" + LogTails());
            await Task.Delay(200);
        }
    }

    /// <summary>
    /// Kills <paramref name="victim"/> with SIGKILL and returns how long it took until every partition
    /// it consumed was consuming again on a surviving node.
    /// </summary>
    public async Task<TimeSpan> KillAndAwaitTakeOverAsync(NodeProcess victim, TimeSpan timeout)
    {
        var orphaned = await victim.PartitionsAsync();
        if (orphaned.Count == 0) throw new InvalidOperationException($"{victim.Name} consumed no partition before the kill");
        var clock = Stopwatch.StartNew();
        await victim.KillAsync();
        while (true)
        {
            var taken = new HashSet<int>();
            foreach (var node in Running) taken.UnionWith(await node.PartitionsAsync());
            if (orphaned.IsSubsetOf(taken)) return clock.Elapsed;
            if (clock.Elapsed > timeout)
                throw new TimeoutException($"partitions {string.Join(",", orphaned.Except(taken))} of {victim.Name} not taken over within {timeout}\n{LogTails()}");
            await Task.Delay(100);
        }
    }

    /// <summary>The main counters of every running node, for a failing test's output.</summary>
    public async Task<string> CountersAsync()
    {
        var lines = new List<string>();
        foreach (var node in Running)
        {
            try
            {
                var text = await node.Http.GetStringAsync("/metrics");
                lines.Add($"{node.Name}: " + string.Join(" ", text.Split('\n').Where(l => l.StartsWith("mc_", StringComparison.Ordinal) && !l.Contains("quantile", StringComparison.Ordinal))));
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                lines.Add($"{node.Name}: /metrics unreachable ({e.Message})");
            }
        }
        return string.Join('\n', lines);
    }

    public string LogTails() => string.Join('\n', _nodes.Select(n => n.LogTail()));

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes) await node.DisposeAsync();
    }

    public static string Format(TimeSpan elapsed) => elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s";
}
