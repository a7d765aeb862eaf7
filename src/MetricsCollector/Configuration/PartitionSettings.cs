using MetricsCollector.Partitions;

namespace MetricsCollector.Configuration;

/// <summary>How a partition actor paces its devices, commits and side records (<c>metrics-collector.partitions</c>).</summary>
/// <param name="InFlightLimit">Messages to devices not yet handled, beyond which the partition's stream waits.</param>
/// <param name="DeviceResendAfter">How long a device may leave messages unacknowledged before they are sent again.</param>
/// <param name="CommitInterval">How often the partition commits what its devices have covered with snapshots.</param>
/// <param name="CommitStallWarning">How long a commit may stand still, with records read past it, before the partition warns.</param>
/// <param name="RevokedFlushTimeout">How long a revoked partition waits for its devices' snapshots before handing over.</param>
/// <param name="ReadAgainMaxDelay">The longest wait before a partition that keeps ending is read again.</param>
/// <param name="Sides">How side records are cut, held and retried.</param>
public sealed record PartitionSettings(
    int InFlightLimit,
    TimeSpan DeviceResendAfter,
    TimeSpan CommitInterval,
    TimeSpan CommitStallWarning,
    TimeSpan RevokedFlushTimeout,
    TimeSpan ReadAgainMaxDelay,
    SideOutputSettings Sides);
