using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading.Channels;

namespace MetricsCollector.Tests.Support.Processes;

/// <summary>
/// `metrics-collector` run as a separate OS process (the build places it beside the tests), so
/// that a test can kill it with SIGKILL, stop it with SIGTERM as an orchestrator would, and
/// start it again. Its output goes to a log file; lines of standard output can also be awaited.
/// </summary>
public sealed class ChildProcess : IDisposable
{
    private const int SigTerm = 15;

    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly Lock _logGate = new();

    private ChildProcess(Process process, string logFile)
    {
        _process = process;
        LogFile = logFile;
        _log = new StreamWriter(logFile, append: true) { AutoFlush = true };
        _process.OutputDataReceived += (_, e) => OnLine(e.Data, toChannel: true);
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data, toChannel: false);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string LogFile { get; }

    public bool HasExited => _process.HasExited;

    /// <summary>Starts <c>metrics-collector</c> with <paramref name="arguments"/> and exactly the given MC_* variables on top of this process's environment.</summary>
    public static ChildProcess Start(IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment, string workDir, string logFile)
    {
        var process = Process.Start(StartInfo(arguments, environment, workDir)) ?? throw new InvalidOperationException("dotnet did not start");
        return new ChildProcess(process, logFile);
    }

    /// <summary>
    /// Runs <c>metrics-collector</c> to its end and returns its exit code and what it wrote; a run
    /// that outlives <paramref name="timeout"/> is killed and reported as a <see cref="TimeoutException"/>.
    /// </summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(
        IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment, string workDir, TimeSpan timeout)
    {
        using var process = Process.Start(StartInfo(arguments, environment, workDir)) ?? throw new InvalidOperationException("dotnet did not start");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException e)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException($"metrics-collector {string.Join(' ', arguments)} still running after {timeout}; it wrote: {await output}{await error}", e);
        }
        return (process.ExitCode, await output, await error);
    }

    private static ProcessStartInfo StartInfo(IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment, string workDir)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workDir,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "metrics-collector.dll"));
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        // Variables of the test run itself (MC_TEST_PG, a developer's MC_*) must not leak into the node.
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("MC_", StringComparison.Ordinal)).ToList()) info.Environment.Remove(key);
        foreach (var (key, value) in environment) info.Environment[key] = value;
        return info;
    }

    /// <summary>The next line the process writes to standard output, or a timeout naming the log to read.</summary>
    public async Task<string> ReadLineAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            return await _lines.Reader.ReadAsync(cancel.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
        {
            throw new TimeoutException($"no output line within {timeout} (exited: {HasExited}); see {LogFile}", e);
        }
    }

    /// <summary>Waits for a line that satisfies <paramref name="match"/>, skipping others.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var line = await ReadLineAsync(deadline - DateTime.UtcNow is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero);
            if (match(line)) return line;
        }
    }

    public async Task WriteLineAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>kill -9: no shutdown hook runs, nothing is flushed.</summary>
    public async Task KillAsync()
    {
        if (_process.HasExited) return;
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>SIGTERM, as an orchestrator stops a container, then waits for the process to end by itself.</summary>
    public async Task TerminateAsync(TimeSpan timeout)
    {
        if (_process.HasExited) return;
        if (Kill(_process.Id, SigTerm) != 0) throw new InvalidOperationException($"kill -TERM {_process.Id} failed: errno {Marshal.GetLastPInvokeError()}");
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException e)
        {
            throw new TimeoutException($"process {_process.Id} still running {timeout} after SIGTERM; see {LogFile}", e);
        }
    }

    public int ExitCode => _process.ExitCode;

    /// <summary>User and system CPU the process has used so far (benchmarks sum it over a cluster's nodes).</summary>
    public TimeSpan CpuTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        _process.Dispose();
        lock (_logGate) _log.Dispose();
    }

    private void OnLine(string? line, bool toChannel)
    {
        if (line is null)
        {
            if (toChannel) _lines.Writer.TryComplete();
            return;
        }
        lock (_logGate)
        {
            try
            {
                _log.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
                // Lines that arrive after disposal are not needed.
            }
        }
        if (toChannel) _lines.Writer.TryWrite(line);
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
