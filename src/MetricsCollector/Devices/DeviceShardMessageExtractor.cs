using System.Globalization;
using Akka.Cluster.Sharding;

namespace MetricsCollector.Devices;

/// <summary>
/// Entity = (device id, partition), shard = the Kafka partition the record came from, so that a
/// device lives on the node that consumes its partition and its events never cross the network.
/// A device whose records arrive on several partitions (unkeyed producers) is one entity per
/// partition: each follows its own partition's watermark and holds its part of every row.
/// </summary>
public sealed class DeviceShardMessageExtractor : IMessageExtractor
{
    /// <summary>The sharded entity type of devices.</summary>
    public const string TypeName = "device";

    public string? EntityId(object message) => message is IDeviceMessage m ? EntityIdOf(m.DeviceId, m.Partition) : null;

    public object? EntityMessage(object message) => message;

    public string? ShardId(object message) => message is IDeviceMessage m ? ShardOf(m.Partition) : null;

    public string ShardId(string entityId, object? messageHint = null) => ShardOf(ParseEntityId(entityId).Partition);

    public static string ShardOf(int partition) => partition.ToString(CultureInfo.InvariantCulture);

    /// <summary>"{device id}@{partition}": device ids may hold '@', partitions never do, so the last one splits.</summary>
    public static string EntityIdOf(string deviceId, int partition) =>
        string.Create(CultureInfo.InvariantCulture, $"{deviceId}@{partition}");

    public static (string DeviceId, int Partition) ParseEntityId(string entityId)
    {
        ArgumentNullException.ThrowIfNull(entityId);
        var at = entityId.LastIndexOf('@');
        if (at < 0 || !int.TryParse(entityId.AsSpan(at + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var partition))
            throw new ArgumentException($"{entityId} is not a device entity id (device@partition)", nameof(entityId));
        return (entityId[..at], partition);
    }
}
