using System.Globalization;
using System.Text.Json;
using Akka.Configuration;

namespace MetricsCollector.Configuration;

/// <summary>How the snapshot store gathers concurrent saves and loads into batches (<c>metrics-collector.snapshot-store</c>).</summary>
/// <param name="BatchSize">Saves written in one transaction (loads read in one query) at most; a full batch goes at once.</param>
/// <param name="BatchDelay">How long a batch that is not full waits for more.</param>
/// <param name="OperationTimeout">How long a batch may take in the database before it fails all its callers.</param>
/// <param name="SqliteCheckpointPages">The embedded store's write-ahead log checkpoint (<see cref="SqliteSettings.CheckpointPages"/>), which its snapshot table sets like the result store.</param>
public sealed record SnapshotStoreSettings(int BatchSize, TimeSpan BatchDelay, TimeSpan OperationTimeout, int SqliteCheckpointPages)
{
    /// <summary>The plugin's section: where it stores (<c>sqlite</c> or <c>postgresql</c>), and these settings.</summary>
    public string PluginHocon(string provider, string connectionString) => $"""
        provider = {provider}
        connection-string = {JsonSerializer.Serialize(connectionString)}
        batch-size = {BatchSize}
        batch-delay = {Milliseconds(BatchDelay)}
        operation-timeout = {Milliseconds(OperationTimeout)}
        sqlite-checkpoint-pages = {SqliteCheckpointPages}
        # Akka's breaker in front of the plugin only backs the plugin's own timeout up: a caller may
        # wait for the batch before its own, and then for its own.
        circuit-breaker.call-timeout = {Milliseconds(OperationTimeout * 2)}
        """;

    public static SnapshotStoreSettings FromPluginConfig(Config config) => new(
        config.GetInt("batch-size"),
        config.GetTimeSpan("batch-delay"),
        config.GetTimeSpan("operation-timeout"),
        config.GetInt("sqlite-checkpoint-pages", SqliteSettings.Default.CheckpointPages));

    private static string Milliseconds(TimeSpan value) => value.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture) + "ms";
}
