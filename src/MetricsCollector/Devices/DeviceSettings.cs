using MetricsCollector.Core.Windows;

namespace MetricsCollector.Devices;

/// <summary>What every device actor of a node shares (<c>metrics-collector.devices</c>).</summary>
/// <param name="SnapshotTimeout">How long a device waits for the snapshot store's answer to a save before it saves again.</param>
public sealed record DeviceSettings(
    WindowSettings Windows,
    int SnapshotAfterEvents,
    TimeSpan SnapshotInterval,
    TimeSpan SnapshotTimeout);
