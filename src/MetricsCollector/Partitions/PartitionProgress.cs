using System.Buffers;
using System.Text;

namespace MetricsCollector.Partitions;

/// <summary>
/// An idle jump of a partition's watermark that a replay must repeat: when the partition has read
/// every record below <see cref="Offset"/>, its watermark moves up to <see cref="Watermark"/>, before
/// the record at <see cref="Offset"/> is judged.
/// </summary>
public sealed record WatermarkJump(long Offset, long Watermark);

/// <summary>
/// Where a partition's processing can resume: the next offset to read, the watermark that
/// record must be judged by, and the devices waiting for the watermark (their timers), since a
/// device whose records are all behind the offset would otherwise never be woken again.
/// Kept in the store beside the results, written at every commit.
/// <para>
/// <see cref="Epoch"/> is the broker's cluster id and <see cref="LogGeneration"/> counts the times
/// the partition's log was found replaced under it (the topic deleted and created again, its offsets
/// reset): an offset means something only within one log, so devices compare <see cref="RecordsEpoch"/>,
/// which names both. <see cref="SideMarks"/> tell a replay where to look for the side records already
/// delivered (see <see cref="SideMark"/>); <see cref="Jumps"/> are the idle jumps a replay from here
/// must make again, each at the offset where it first happened.
/// </para>
/// </summary>
public sealed record PartitionProgress(long Offset, long Watermark, TimerDictionary Timers, string Epoch)
{
    /// <summary>Version 3 added the side marks; 4 the idle jumps, the log generation, the topic id, the stored watermark, and timers grouped by time.</summary>
    private const byte Version = 4;

    public IReadOnlyList<SideMark> SideMarks { get; init; } = [];

    public IReadOnlyList<WatermarkJump> Jumps { get; init; } = [];

    public int LogGeneration { get; init; }

    /// <summary>The topic's id where the broker reports one (a real Kafka does, the embedded broker does not).</summary>
    public string? TopicId { get; init; }

    /// <summary>
    /// How far the partition's watermark is stored (<see cref="CommitTracker.FinalThrough"/>): no record of this
    /// partition can change a window that closes at or below it, and its final part is in the store. Only rises.
    /// </summary>
    public long FinalThrough { get; init; } = Core.Time.Watermark.Start;

    /// <summary>What names the log these offsets belong to, for devices that remember offsets.</summary>
    public string RecordsEpoch => LogGeneration == 0 ? Epoch : $"{Epoch}~{LogGeneration}";

    public static PartitionProgress Beginning(string epoch) => new(0, Core.Time.Watermark.Start, TimerDictionary.Empty, epoch);

    /// <summary>
    /// Where to resume on the broker <paramref name="epoch"/>. On another broker (a fresh embedded
    /// one, or a recreated cluster) the offsets start again at the beginning, but the watermark and
    /// timers stay: the devices have already seen that watermark, and judging new records by a
    /// lower one would make the partition and its devices disagree about what is too late.
    /// The side marks and jumps go: they are offsets of the other broker's topics.
    /// </summary>
    public PartitionProgress On(string epoch) =>
        Epoch == epoch ? this : this with { Offset = 0, Epoch = epoch, SideMarks = [], Jumps = [], LogGeneration = 0, TopicId = null };

    /// <summary>
    /// The partition's log was replaced under this checkpoint (its end is below the checkpoint, or the
    /// topic has a new id): read the new log from <paramref name="logStart"/>, as a new generation, so
    /// that devices do not skip its records as ones they applied. Watermark and timers stay, as for a
    /// new broker.
    /// </summary>
    public PartitionProgress Replaced(long logStart, string? topicId) =>
        this with { Offset = logStart, SideMarks = [], Jumps = [], LogGeneration = LogGeneration + 1, TopicId = topicId };

    /// <summary>
    /// Whether saving <paramref name="other"/> over this would change where or how a replay
    /// starts. Side marks do not count: they only move with the offset or watermark.
    /// </summary>
    public bool ResumesLike(PartitionProgress other) =>
        Offset == other.Offset && Watermark == other.Watermark && Epoch == other.Epoch
        && LogGeneration == other.LogGeneration && TopicId == other.TopicId
        && Jumps.SequenceEqual(other.Jumps)
        && Timers.SameAs(other.Timers);

    public static string KeyOf(string groupId, string topic, int partition) => $"partition/{groupId}/{topic}/{partition}";

    public string Encode()
    {
        var timers = Timers.Encoded;
        using var stream = new MemoryStream(64 + timers.Length + SideMarks.Count * 48 + Jumps.Count * 16);
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(Version);
            writer.Write(Epoch);
            writer.Write(Offset);
            writer.Write(Watermark);
            writer.Write(timers);
            writer.Write7BitEncodedInt(SideMarks.Count);
            foreach (var mark in SideMarks)
            {
                writer.Write(mark.Topic);
                writer.Write7BitEncodedInt(mark.Partition);
                writer.Write(mark.Offset);
            }
            writer.Write7BitEncodedInt(Jumps.Count);
            foreach (var jump in Jumps)
            {
                writer.Write(jump.Offset);
                writer.Write(jump.Watermark);
            }
            writer.Write7BitEncodedInt(LogGeneration);
            writer.Write(TopicId ?? "");
            writer.Write(FinalThrough);
        }
        return Convert.ToBase64String(stream.GetBuffer(), 0, (int)stream.Length);
    }

    public static PartitionProgress Decode(string text) => Decode(text, withTimers: true);

    /// <summary>
    /// <see cref="Decode(string)"/> without the timers (<see cref="Timers"/> comes back empty): what readers of the
    /// stored watermark need, without building a partition's table of every waiting device.
    /// </summary>
    public static PartitionProgress DecodeWithoutTimers(string text) => Decode(text, withTimers: false);

    private static PartitionProgress Decode(string text, bool withTimers)
    {
        var bytes = ArrayPool<byte>.Shared.Rent(text.Length / 4 * 3 + 3);
        try
        {
            if (!Convert.TryFromBase64String(text, bytes, out var length)) throw new FormatException("partition progress is not base64");
            using var reader = new BinaryReader(new MemoryStream(bytes, 0, length, writable: false), Encoding.UTF8);
            return Read(reader, withTimers);
        }
        catch (IOException e)
        {
            // Truncated, or a length that points outside the bytes: a damaged checkpoint, told as a format error.
            throw new FormatException("partition progress is truncated or damaged", e);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bytes);
        }
    }

    private static PartitionProgress Read(BinaryReader reader, bool withTimers)
    {
        var version = reader.ReadByte();
        if (version is not (2 or 3 or Version)) throw new FormatException($"unknown partition progress version {version}");
        var epoch = reader.ReadString();
        var offset = reader.ReadInt64();
        var watermark = reader.ReadInt64();
        var timers = TimerDictionary.Empty;
        if (version == Version)
        {
            if (withTimers) timers = TimerDictionary.Read(reader);
            else TimerDictionary.Skip(reader);
        }
        else
        {
            // Before version 4 each device with its own time.
            var pairs = new Dictionary<string, long>();
            var count = reader.Read7BitEncodedInt();
            for (var i = 0; i < count; i++) pairs[reader.ReadString()] = reader.ReadInt64();
            if (withTimers) timers = TimerDictionary.Owning(pairs);
        }
        var marks = new List<SideMark>();
        var markCount = version == 2 ? 0 : reader.Read7BitEncodedInt();
        for (var i = 0; i < markCount; i++) marks.Add(new SideMark(reader.ReadString(), reader.Read7BitEncodedInt(), reader.ReadInt64()));
        var progress = new PartitionProgress(offset, watermark, timers, epoch) { SideMarks = marks };
        if (version < Version) return progress;

        var jumps = new List<WatermarkJump>();
        var jumpCount = reader.Read7BitEncodedInt();
        for (var i = 0; i < jumpCount; i++) jumps.Add(new WatermarkJump(reader.ReadInt64(), reader.ReadInt64()));
        var generation = reader.Read7BitEncodedInt();
        var topicId = reader.ReadString();
        var finalThrough = reader.ReadInt64();
        return progress with { Jumps = jumps, LogGeneration = generation, TopicId = topicId.Length == 0 ? null : topicId, FinalThrough = finalThrough };
    }
}
