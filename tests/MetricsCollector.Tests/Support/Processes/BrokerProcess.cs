namespace MetricsCollector.Tests.Support.Processes;

/// <summary>A standalone `metrics-collector kafka` broker, driven through its standard input.</summary>
public sealed class BrokerProcess : IDisposable
{
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(30);
    private readonly ChildProcess _process;

    private BrokerProcess(ChildProcess process, string bootstrap)
    {
        _process = process;
        BootstrapServers = bootstrap;
    }

    public string BootstrapServers { get; }

    /// <summary>Starts the broker with the product topics; new consumer groups start at once (no initial rebalance delay).</summary>
    public static async Task<BrokerProcess> StartAsync(string workDir, int partitions = 10)
    {
        var process = ChildProcess.Start(
            ["kafka", "--partitions", partitions.ToString(System.Globalization.CultureInfo.InvariantCulture), "--rebalance-delay-ms", "0"],
            new Dictionary<string, string>(), workDir, Path.Combine(workDir, "broker.log"));
        try
        {
            return new BrokerProcess(process, await process.ReadLineAsync(Answer));
        }
        catch
        {
            process.Dispose();
            throw;
        }
    }

    /// <summary>Closes the broker's listener and connections, as if it died; clients retry until <see cref="UpAsync"/>.</summary>
    public async Task DownAsync()
    {
        await _process.WriteLineAsync("down 1");
        await _process.WaitForLineAsync(l => l == "broker 1 down", Answer);
    }

    public async Task UpAsync()
    {
        await _process.WriteLineAsync("up 1");
        await _process.WaitForLineAsync(l => l == "broker 1 up", Answer);
    }

    public void Dispose() => _process.Dispose();
}
