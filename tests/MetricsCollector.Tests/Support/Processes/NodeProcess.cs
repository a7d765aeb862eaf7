using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace MetricsCollector.Tests.Support.Processes;

/// <summary>
/// One cluster node as its own OS process with fixed ports, so it can be killed and started again
/// at the same address, as a supervisor restarts a crashed node.
/// </summary>
public sealed partial class NodeProcess : IAsyncDisposable
{
    private readonly IReadOnlyDictionary<string, string> _environment;
    private readonly string _workDir;
    private readonly string _configFile;
    private ChildProcess? _process;
    private int _starts;

    public NodeProcess(string name, IReadOnlyDictionary<string, string> environment, string workDir, int clusterPort, int httpPort, string hocon)
    {
        Name = name;
        ClusterPort = clusterPort;
        _workDir = workDir;
        var env = new Dictionary<string, string>(environment)
        {
            ["MC_CLUSTER_HOST"] = "127.0.0.1",
            ["MC_CLUSTER_PORT"] = clusterPort.ToString(CultureInfo.InvariantCulture),
            ["MC_HTTP_PORT"] = httpPort.ToString(CultureInfo.InvariantCulture),
        };
        _environment = env;
        _configFile = Path.Combine(workDir, $"{name}.conf");
        File.WriteAllText(_configFile, hocon);
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(10) };
    }

    public string Name { get; }

    public HttpClient Http { get; }

    public bool Running => _process is { HasExited: false };

    public int ClusterPort { get; }

    /// <summary>CPU used by the running process so far; zero when it is not running.</summary>
    public TimeSpan CpuTime => _process is { HasExited: false } process ? process.CpuTime : TimeSpan.Zero;

    /// <summary>Starts (or starts again) and waits until <c>/health/ready</c> answers 200.</summary>
    public async Task StartAsync(TimeSpan? readyWithin = null)
    {
        _process?.Dispose();
        _starts++;
        _process = ChildProcess.Start(["run", "--config", _configFile], _environment, _workDir, Path.Combine(_workDir, $"{Name}.{_starts}.log"));
        var deadline = DateTime.UtcNow + (readyWithin ?? TimeSpan.FromSeconds(90));
        while (true)
        {
            if (_process.HasExited) throw new InvalidOperationException($"{Name} exited with {_process.ExitCode} while starting; see {_process.LogFile}");
            if (await IsReadyAsync()) return;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{Name} not ready in time; see {_process.LogFile}");
            await Task.Delay(250);
        }
    }

    public async Task<bool> IsReadyAsync()
    {
        try
        {
            using var response = await Http.GetAsync("/health/ready");
            return response.IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    /// <summary>kill -9.</summary>
    public Task KillAsync() => _process?.KillAsync() ?? Task.CompletedTask;

    /// <summary>SIGTERM and wait: the node flushes and commits its partitions and leaves the cluster.</summary>
    public async Task StopAsync()
    {
        if (_process is null) return;
        await _process.TerminateAsync(TimeSpan.FromSeconds(60));
        if (_process.ExitCode != 0) throw new InvalidOperationException($"{Name} exited with {_process.ExitCode} after SIGTERM; see {_process.LogFile}");
    }

    /// <summary>The partitions this node is consuming: those with a watermark gauge on <c>/metrics</c>.</summary>
    public async Task<IReadOnlySet<int>> PartitionsAsync()
    {
        try
        {
            var text = await Http.GetStringAsync("/metrics");
            return WatermarkGauge().Matches(text).Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).ToHashSet();
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return new HashSet<int>();
        }
    }

    /// <summary>
    /// The last log lines of every run of this node, for a failing test's output. Stack traces are
    /// left out: a store outage prints hundreds of them, and CI keeps only the end of the output.
    /// </summary>
    public string LogTail(int lines = 12) =>
        string.Join('\n', LogFiles().Select(f => $"--- {Path.GetFileName(f)}\n" + string.Join('\n', File.ReadLines(f).Where(IsLogMessage).TakeLast(lines))));

    /// <summary>Whether any run of this node has logged a line containing <paramref name="text"/>.</summary>
    public bool Logged(string text) => LogFiles().Any(f => ReadShared(f).Contains(text, StringComparison.Ordinal));

    private IEnumerable<string> LogFiles() =>
        Enumerable.Range(1, _starts).Select(i => Path.Combine(_workDir, $"{Name}.{i}.log")).Where(File.Exists);

    // The running node still writes to its log.
    private static string ReadShared(string file)
    {
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    // Akka's entries start with "[LEVEL]", the host's with their time, an exception with "Cause:";
    // only the lines of a stack trace or an exception's data are indented.
    private static bool IsLogMessage(string line) => line.Length > 0 && !char.IsWhiteSpace(line[0]);

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (_process is null) return;
        await _process.KillAsync();
        _process.Dispose();
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [GeneratedRegex("""^mc_partition_watermark_ms\{partition="(\d+)"\}""", RegexOptions.Multiline)]
    private static partial Regex WatermarkGauge();
}
