using System.Diagnostics;
using System.Globalization;

namespace MetricsCollector.Tests.Support.Processes;

/// <summary>
/// A PostgreSQL server of a test's own (deploy/local-postgres.sh with its own data directory and
/// port), for tests that stop the store mid-stream without disturbing the server other tests share.
/// </summary>
public sealed class LocalPostgres : IDisposable
{
    private readonly Dictionary<string, string> _environment;

    public LocalPostgres()
    {
        Port = NodeProcess.FreePort();
        DataDirectory = Path.Combine(Path.GetTempPath(), $"mc-pg-{Guid.NewGuid():N}");
        _environment = new()
        {
            ["MC_PG_DATA"] = DataDirectory,
            ["MC_PG_PORT"] = Port.ToString(CultureInfo.InvariantCulture),
        };
    }

    public int Port { get; }

    public string DataDirectory { get; }

    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres";

    public Task StartAsync() => RunAsync("start");

    public Task StopAsync() => RunAsync("stop");

    public void Dispose()
    {
        RunAsync("stop").GetAwaiter().GetResult();
        Directory.Delete(DataDirectory, recursive: true);
    }

    private async Task RunAsync(string verb)
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(Repository.Root, "deploy", "local-postgres.sh"));
        info.ArgumentList.Add(verb);
        foreach (var (key, value) in _environment) info.Environment[key] = value;
        using var process = Process.Start(info) ?? throw new InvalidOperationException("bash did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"local-postgres.sh {verb} failed ({process.ExitCode}): {await output}{await error}");
    }
}
