using MetricsCollector.Core.Windows;

namespace MetricsCollector.Devices;

/// <summary>
/// What a device actor saves: its windows plus, per partition, the offset of the last record it
/// applied, so that a replay from an older committed offset skips what the windows already hold.
/// Stored as plain bytes so that Akka's byte-array serializer carries it with no schema of its own.
/// </summary>
public sealed record DeviceSnapshot(byte[] Windows, IReadOnlyDictionary<int, long> AppliedThrough)
{
    private const byte Version = 1;

    public byte[] ToBytes()
    {
        using var stream = new MemoryStream(Windows.Length + 16 + AppliedThrough.Count * 12);
        using (var writer = new BinaryWriter(stream))
        {
            writer.Write(Version);
            writer.Write7BitEncodedInt(AppliedThrough.Count);
            foreach (var (partition, offset) in AppliedThrough)
            {
                writer.Write7BitEncodedInt(partition);
                writer.Write7BitEncodedInt64(offset);
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
            using var reader = new BinaryReader(new MemoryStream(bytes, writable: false));
            var version = reader.ReadByte();
            if (version != Version) throw new FormatException($"unknown device snapshot version {version}");
            var count = reader.Read7BitEncodedInt();
            var applied = new Dictionary<int, long>(count);
            for (var i = 0; i < count; i++) applied[reader.Read7BitEncodedInt()] = reader.Read7BitEncodedInt64();
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
