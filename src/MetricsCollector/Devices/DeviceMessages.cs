using Akka.Actor;
using MetricsCollector.Core.Windows;

namespace MetricsCollector.Devices;

/// <summary>A message for one device actor; sharding routes it by device id to the shard of its partition.</summary>
public interface IDeviceMessage
{
    string DeviceId { get; }

    int Partition { get; }
}

/// <summary>One record of a partition as a device needs it: where it was, and the watermark it is judged by.</summary>
public readonly record struct PartitionEvent(long Offset, long JudgedBy, long Timestamp, double CpuUsage);

/// <summary>
/// A run of one device's records from one partition, in partition order: <see cref="First"/>, then
/// <see cref="Rest"/>. <see cref="Epoch"/> names the broker (its cluster id) whose offsets these are.
/// </summary>
/// <remarks>
/// The first event is carried inline because most runs are that one event: a device sending every few
/// seconds has one record in a partition's batch of a fraction of a second, so an array per message was an
/// array per event. <see cref="Rest"/> is then the shared empty array.
/// </remarks>
public sealed record DeviceEvents(string DeviceId, int Partition, IActorRef PartitionActor, string Epoch, PartitionEvent First, PartitionEvent[] Rest) : IFromPartition
{
    public Delivery Delivery { get; init; }

    /// <summary>The Kafka timestamp (epoch ms) of the run's newest record, 0 when the broker gave none: for freshness, not for windows.</summary>
    public long NewestAppended { get; init; }

    public IFromPartition With(Delivery delivery) => this with { Delivery = delivery };
}

/// <summary>The partition's watermark reached a time the device asked to be woken at.</summary>
public sealed record AdvanceWatermark(string DeviceId, int Partition, IActorRef PartitionActor, long Watermark) : IFromPartition
{
    public Delivery Delivery { get; init; }

    public IFromPartition With(Delivery delivery) => this with { Delivery = delivery };
}

/// <summary>Snapshot now and tell the partition what is covered: its partition is being handed over or the node stops.</summary>
public sealed record FlushDevice(string DeviceId, int Partition, IActorRef PartitionActor) : IFromPartition
{
    public Delivery Delivery { get; init; }

    public IFromPartition With(Delivery delivery) => this with { Delivery = delivery };
}

/// <summary>
/// Partition → device: nothing has reached you for <c>devices.passivate-after</c>; leave memory (after a
/// snapshot). The partition decides, not the shard: it sends to a device's own address once it knows
/// it, so the shard, which notes only what passes through it, would stop busy devices as idle.
/// </summary>
public sealed class PassivateDevice
{
    public static readonly PassivateDevice Instance = new();

    private PassivateDevice() { }
}

/// <summary>
/// Device → partition: every message up to <see cref="Seq"/> has been handled. The partition keeps
/// the number of its messages in flight bounded: that is the backpressure from devices to Kafka,
/// and it keeps the shard region's buffer (which drops when full) far from full while shards start.
/// <see cref="Slot"/> is the acknowledged message's <see cref="Delivery.Slot"/>.
/// </summary>
public sealed record DeviceAck(string DeviceId, long Seq, int Slot = -1);

/// <summary>Device → partition: a message of yours arrived after a gap; send me again what I have not acknowledged.</summary>
public sealed record DeviceGap(string DeviceId);

/// <summary>Device → partition: wake me when the watermark reaches this time (<see cref="long.MaxValue"/>: never).</summary>
public sealed record WakeMeAt(string DeviceId, long Watermark);

/// <summary>
/// Device → partition: a snapshot of mine now holds every message of yours up to <paramref name="ThroughSeq"/>,
/// and with them every record up to <paramref name="ThroughOffset"/> (-1 when none).
/// </summary>
public sealed record Covered(string DeviceId, long ThroughSeq, long ThroughOffset);

/// <summary>
/// Device → partition: I failed and started again from my last snapshot, so messages of yours that I
/// acknowledged may be lost. I handle nothing more from you: read the partition again from its last commit.
/// </summary>
public sealed record DeviceLostState(string DeviceId);

/// <summary>Device → result writer: rows (the parts of its partition) to store; the writer answers <see cref="RowsStored"/> with the same sequence.</summary>
public sealed record StoreRows(IReadOnlyList<WindowPart> Rows, long Sequence)
{
    /// <summary>The Kafka timestamp of the newest record the device had received when it took these rows (0: unknown).</summary>
    public long NewestAppended { get; init; }
}

/// <summary>Result writer → device: every row sent with this sequence number or below is stored.</summary>
public sealed record RowsStored(long Sequence);

/// <summary>
/// Live route → a running device actor: your windows that have not fired yet. Sent to the actor itself, never
/// through the shard region, which would start an actor that is not running just to answer; and it does not
/// count as activity, so asking never keeps an idle device from passivating.
/// </summary>
public sealed record GetOpenWindows : INotInfluenceReceiveTimeout
{
    public static readonly GetOpenWindows Instance = new();
}

/// <summary>Device → live route: its open windows as they stand (<see cref="DeviceWindows.OpenWindows"/>), its partition's parts.</summary>
public sealed record OpenWindows(IReadOnlyList<WindowPart> Parts);
