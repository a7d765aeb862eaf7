using MetricsCollector.Core.Windows;

namespace MetricsCollector.Devices;

/// <summary>What every device actor of a node shares.</summary>
public sealed record DeviceSettings(
    WindowSettings Windows,
    int SnapshotAfterEvents,
    TimeSpan SnapshotInterval,
    TimeSpan PassivateAfter);
