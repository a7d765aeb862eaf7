using MetricsCollector.Core.Windows;

namespace MetricsCollector.Devices;

/// <summary>
/// The last record a device applied from one partition, and the broker it came from: offsets of
/// another broker (a fresh embedded broker starts again at 0) say nothing about what was applied.
/// </summary>
public readonly record struct AppliedOffset(long Offset, string Epoch);

/// <summary>
/// What a device actor saves: its windows plus the offset of the last record it applied from its
/// partition (none before the first), so that a replay from an older committed offset skips what
/// the windows already hold. Stored as plain bytes so that Akka's byte-array serializer carries it
/// with no schema of its own.
/// </summary>
public sealed record DeviceSnapshot(byte[] Windows, AppliedOffset? Applied)
{
    // Version 2 held offsets of several partitions, when one actor took a device's records from all of them.
    private const byte Version = 3;

    public byte[] ToBytes()
    {
        using var stream = new MemoryStream(Windows.Length + 32);
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8))
        {
            writer.Write(Version);
            writer.Write(Applied is not null);
            if (Applied is { } applied)
            {
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
            AppliedOffset? applied = reader.ReadBoolean() ? new AppliedOffset(reader.Read7BitEncodedInt64(), reader.ReadString()) : null;
            var windows = reader.ReadBytes(reader.Read7BitEncodedInt());
            return new DeviceSnapshot(windows, applied);
        }
        catch (EndOfStreamException e)
        {
            throw new FormatException("device snapshot is truncated", e);
        }
    }

    public DeviceWindows RestoreWindows(string deviceId, int partition, WindowSettings settings) =>
        DeviceWindows.FromSnapshot(deviceId, partition, settings, Windows);
}
