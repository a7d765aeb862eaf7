using MetricsCollector.Core.Windows;

namespace MetricsCollector.Devices;

/// <summary>
/// The last record a device applied from one partition, and the broker it came from: offsets of
/// another broker (a fresh embedded broker starts again at 0) say nothing about what was applied.
/// </summary>
public readonly record struct AppliedOffset(long Offset, string Epoch);

/// <summary>
/// What a device actor saves: its windows plus, per partition, the offset of the last record it
/// applied, so that a replay from an older committed offset skips what the windows already hold.
/// Stored as plain bytes so that Akka's byte-array serializer carries it with no schema of its own.
/// </summary>
public sealed record DeviceSnapshot(byte[] Windows, IReadOnlyDictionary<int, AppliedOffset> AppliedThrough)
{
    private const byte Version = 2;

    public byte[] ToBytes()
    {
        using var stream = new MemoryStream(Windows.Length + 16 + AppliedThrough.Count * 12);
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8))
        {
            writer.Write(Version);
            writer.Write7BitEncodedInt(AppliedThrough.Count);
            foreach (var (partition, applied) in AppliedThrough)
            {
                writer.Write7BitEncodedInt(partition);
                writer.Write7BitEncodedInt64(applied.Offset);
                writer.Write(applied.Epoch);
            }
            writer.Write7BitEncodedInt(Windows.Length);
            writer.Write(Windows);
        }
        return stream.ToArray();
    }

    public static DeviceSnapshot FromBytes(byte[] bytes)
    {
        try
        {
            using var reader = new BinaryReader(new MemoryStream(bytes, writable: false), System.Text.Encoding.UTF8);
            var version = reader.ReadByte();
            if (version != Version) throw new FormatException($"unknown device snapshot version {version}");
            var count = reader.Read7BitEncodedInt();
            var applied = new Dictionary<int, AppliedOffset>(count);
            for (var i = 0; i < count; i++)
            {
                var partition = reader.Read7BitEncodedInt();
                applied[partition] = new AppliedOffset(reader.Read7BitEncodedInt64(), reader.ReadString());
            }
            var windows = reader.ReadBytes(reader.Read7BitEncodedInt());
            return new DeviceSnapshot(windows, applied);
        }
        catch (EndOfStreamException e)
        {
            throw new FormatException("device snapshot is truncated", e);
        }
    }

    public DeviceWindows RestoreWindows(string deviceId, WindowSettings settings) =>
        DeviceWindows.FromSnapshot(deviceId, settings, Windows);
}
