using System.Globalization;
using Akka.Cluster.Sharding;

namespace MetricsCollector.Devices;

/// <summary>
/// Entity = device id, shard = the Kafka partition the record came from, so that a device lives
/// on the node that consumes its partition and its events never cross the network.
/// </summary>
public sealed class DeviceShardMessageExtractor : IMessageExtractor
{
    /// <summary>The sharded entity type of devices.</summary>
    public const string TypeName = "device";

    public string? EntityId(object message) => (message as IDeviceMessage)?.DeviceId;

    public object? EntityMessage(object message) => message;

    public string? ShardId(object message) => message is IDeviceMessage m ? ShardOf(m.Partition) : null;

    public string ShardId(string entityId, object? messageHint = null) =>
        messageHint is IDeviceMessage m
            ? ShardOf(m.Partition)
            : throw new ArgumentException($"device {entityId} can only be started by a message that names its partition", nameof(messageHint));

    public static string ShardOf(int partition) => partition.ToString(CultureInfo.InvariantCulture);
}
