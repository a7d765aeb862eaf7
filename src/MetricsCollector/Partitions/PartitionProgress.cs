using System.Text;
using MetricsCollector.Core.Time;

namespace MetricsCollector.Partitions;

/// <summary>
/// Where a partition's processing can resume: the next offset to read, the watermark that
/// record must be judged by, and the devices waiting for the watermark (their timers), since a
/// device whose records are all behind the offset would otherwise never be woken again.
/// Kept in the store beside the results, written at every commit. <see cref="Epoch"/> is the
/// broker's cluster id: an offset of one broker means nothing on another.
/// </summary>
public sealed record PartitionProgress(long Offset, long Watermark, IReadOnlyDictionary<string, long> Timers, string Epoch)
{
    private const byte Version = 2;

    public static PartitionProgress Beginning(string epoch) => new(0, Core.Time.Watermark.Start, new Dictionary<string, long>(), epoch);

    /// <summary>
    /// Where to resume on the broker <paramref name="epoch"/>. On another broker (a fresh embedded
    /// one, or a recreated cluster) the offsets start again at the beginning, but the watermark and
    /// timers stay: the devices have already seen that watermark, and judging new records by a
    /// lower one would make the partition and its devices disagree about what is too late.
    /// </summary>
    public PartitionProgress On(string epoch) => Epoch == epoch ? this : this with { Offset = 0, Epoch = epoch };

    public static string KeyOf(string groupId, string topic, int partition) => $"partition/{groupId}/{topic}/{partition}";

    public string Encode()
    {
        using var stream = new MemoryStream(32 + Timers.Count * 24);
        using (var writer = new BinaryWriter(stream, Encoding.UTF8))
        {
            writer.Write(Version);
            writer.Write(Epoch);
            writer.Write(Offset);
            writer.Write(Watermark);
            writer.Write7BitEncodedInt(Timers.Count);
            foreach (var (device, time) in Timers)
            {
                writer.Write(device);
                writer.Write(time);
            }
        }
        return Convert.ToBase64String(stream.ToArray());
    }

    public static PartitionProgress Decode(string text)
    {
        try
        {
            using var reader = new BinaryReader(new MemoryStream(Convert.FromBase64String(text)), Encoding.UTF8);
            var version = reader.ReadByte();
            if (version != Version) throw new FormatException($"unknown partition progress version {version}");
            var epoch = reader.ReadString();
            var offset = reader.ReadInt64();
            var watermark = reader.ReadInt64();
            var count = reader.Read7BitEncodedInt();
            var timers = new Dictionary<string, long>(count);
            for (var i = 0; i < count; i++) timers[reader.ReadString()] = reader.ReadInt64();
            return new PartitionProgress(offset, watermark, timers, epoch);
        }
        catch (EndOfStreamException e)
        {
            throw new FormatException("partition progress is truncated", e);
        }
    }
}
