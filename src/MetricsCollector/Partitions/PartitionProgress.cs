using System.Text;
using MetricsCollector.Core.Time;

namespace MetricsCollector.Partitions;

/// <summary>
/// Where a partition's processing can resume: the next offset to read, the watermark that
/// record must be judged by, and the devices waiting for the watermark (their timers), since a
/// device whose records are all behind the offset would otherwise never be woken again.
/// Kept in the store beside the results, written at every commit.
/// </summary>
public sealed record PartitionProgress(long Offset, long Watermark, IReadOnlyDictionary<string, long> Timers)
{
    private const byte Version = 1;

    public static PartitionProgress Beginning { get; } = new(0, Core.Time.Watermark.Start, new Dictionary<string, long>());

    public static string KeyOf(string groupId, string topic, int partition) => $"partition/{groupId}/{topic}/{partition}";

    public string Encode()
    {
        using var stream = new MemoryStream(32 + Timers.Count * 24);
        using (var writer = new BinaryWriter(stream, Encoding.UTF8))
        {
            writer.Write(Version);
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
            var offset = reader.ReadInt64();
            var watermark = reader.ReadInt64();
            var count = reader.Read7BitEncodedInt();
            var timers = new Dictionary<string, long>(count);
            for (var i = 0; i < count; i++) timers[reader.ReadString()] = reader.ReadInt64();
            return new PartitionProgress(offset, watermark, timers);
        }
        catch (EndOfStreamException e)
        {
            throw new FormatException("partition progress is truncated", e);
        }
    }
}
