using System.Text;
using MetricsCollector.Core.Time;

namespace MetricsCollector.Partitions;

/// <summary>
/// Where a partition's processing can resume: the next offset to read, the watermark that
/// record must be judged by, and the devices waiting for the watermark (their timers), since a
/// device whose records are all behind the offset would otherwise never be woken again.
/// Kept in the store beside the results, written at every commit. <see cref="Epoch"/> is the
/// broker's cluster id: an offset of one broker means nothing on another. <see cref="SideMarks"/>
/// tell a replay where to look for the side records already delivered (see <see cref="SideMark"/>).
/// </summary>
public sealed record PartitionProgress(long Offset, long Watermark, IReadOnlyDictionary<string, long> Timers, string Epoch)
{
    /// <summary>Version 3 added the side marks; a version 2 checkpoint reads as one without marks.</summary>
    private const byte Version = 3;

    public IReadOnlyList<SideMark> SideMarks { get; init; } = [];

    public static PartitionProgress Beginning(string epoch) => new(0, Core.Time.Watermark.Start, new Dictionary<string, long>(), epoch);

    /// <summary>
    /// Where to resume on the broker <paramref name="epoch"/>. On another broker (a fresh embedded
    /// one, or a recreated cluster) the offsets start again at the beginning, but the watermark and
    /// timers stay: the devices have already seen that watermark, and judging new records by a
    /// lower one would make the partition and its devices disagree about what is too late.
    /// The side marks go: they are offsets of the other broker's side topics.
    /// </summary>
    public PartitionProgress On(string epoch) => Epoch == epoch ? this : this with { Offset = 0, Epoch = epoch, SideMarks = [] };

    /// <summary>
    /// Whether saving <paramref name="other"/> over this would change where or how a replay
    /// starts. Side marks do not count: they only move with the offset or watermark.
    /// </summary>
    public bool ResumesLike(PartitionProgress other) =>
        Offset == other.Offset && Watermark == other.Watermark && Epoch == other.Epoch
        && Timers.Count == other.Timers.Count
        && Timers.All(t => other.Timers.TryGetValue(t.Key, out var time) && time == t.Value);

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
            writer.Write7BitEncodedInt(SideMarks.Count);
            foreach (var mark in SideMarks)
            {
                writer.Write(mark.Topic);
                writer.Write7BitEncodedInt(mark.Partition);
                writer.Write(mark.Offset);
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
            if (version is not (2 or Version)) throw new FormatException($"unknown partition progress version {version}");
            var epoch = reader.ReadString();
            var offset = reader.ReadInt64();
            var watermark = reader.ReadInt64();
            var count = reader.Read7BitEncodedInt();
            var timers = new Dictionary<string, long>(count);
            for (var i = 0; i < count; i++) timers[reader.ReadString()] = reader.ReadInt64();
            var marks = new List<SideMark>();
            var markCount = version == 2 ? 0 : reader.Read7BitEncodedInt();
            for (var i = 0; i < markCount; i++) marks.Add(new SideMark(reader.ReadString(), reader.Read7BitEncodedInt(), reader.ReadInt64()));
            return new PartitionProgress(offset, watermark, timers, epoch) { SideMarks = marks };
        }
        catch (EndOfStreamException e)
        {
            throw new FormatException("partition progress is truncated", e);
        }
    }
}
