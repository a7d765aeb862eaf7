using Akka.Actor;
using MetricsCollector.Devices;

namespace MetricsCollector.Tests.Devices;

/// <summary>A device is one entity per partition, in that partition's shard, whatever its id holds.</summary>
public sealed class DeviceShardMessageExtractorTests
{
    private readonly DeviceShardMessageExtractor _extractor = new();

    [Theory]
    [InlineData("device-1", 0)]
    [InlineData("user@host@3", 7)]
    [InlineData("@", 123)]
    public void The_entity_names_device_and_partition_and_lives_in_the_partitions_shard(string deviceId, int partition)
    {
        var message = new FlushDevice(deviceId, partition, ActorRefs.Nobody);
        var entityId = _extractor.EntityId(message)!;

        Assert.Equal((deviceId, partition), DeviceShardMessageExtractor.ParseEntityId(entityId));
        Assert.Equal(DeviceShardMessageExtractor.ShardOf(partition), _extractor.ShardId(message));
        Assert.Equal(_extractor.ShardId(message), _extractor.ShardId(entityId));
        Assert.NotEqual(entityId, _extractor.EntityId(message with { Partition = partition + 1 }));
    }

    [Theory]
    [InlineData("device-1")]
    [InlineData("device-1@")]
    [InlineData("device-1@x")]
    [InlineData("device-1@-1")]
    public void Anything_else_is_not_a_device_entity_id(string entityId) =>
        Assert.Throws<ArgumentException>(() => DeviceShardMessageExtractor.ParseEntityId(entityId));
}
