using MetricsCollector.Core.Digests;

namespace MetricsCollector.Core.Windows;

/// <summary>
/// The binary snapshot of a device's windows: what a restarted device needs to carry on as if it
/// had never stopped. The partition is not kept: it is the identity of the device actor that
/// restores it. Rows already taken are not kept: a fired window remembers only its
/// revision and whether it changed since, and recomputes its figures from its panes when needed.
/// </summary>
public sealed partial class DeviceWindows
{
    // Version 2: pane indexes as steps from the previous pane (one byte instead of eight for
    // consecutive panes) and digests in t-digest format 2. Version 1 is not read.
    private const byte SnapshotVersion = 2;

    /// <summary>Writes the state; call <see cref="TakeResults"/> first, since rows not yet taken are not part of it.</summary>
    public byte[] ToSnapshot()
    {
        if (_closedRows.Count > 0)
            throw new InvalidOperationException("take the results of closed windows before snapshotting");
        using var stream = new MemoryStream(64 + _panes.Count * 256);
        using (var writer = new BinaryWriter(stream))
        {
            writer.Write(SnapshotVersion);
            writer.Write(Watermark);
            writer.Write7BitEncodedInt(_panes.Count);
            var previous = 0L;
            var first = true;
            foreach (var (index, bytes) in _panes.ToBytes())
            {
                writer.Write7BitEncodedInt64(first ? index : index - previous);
                previous = index;
                first = false;
                writer.Write7BitEncodedInt(bytes.Length);
                writer.Write(bytes);
            }
            writer.Write7BitEncodedInt(_fired.Count);
            for (var i = 0; i < _fired.Count; i++)
            {
                writer.Write(_fired.Keys[i]);
                writer.Write7BitEncodedInt(_fired.Values[i].Revision);
                writer.Write(_fired.Values[i].Dirty);
            }
        }
        return stream.ToArray();
    }

    /// <summary>Restores a device from <see cref="ToSnapshot"/>'s bytes; FormatException when they are not such bytes.</summary>
    public static DeviceWindows FromSnapshot(string deviceId, int partition, WindowSettings settings, byte[] snapshot)
    {
        try
        {
            using var reader = new BinaryReader(new MemoryStream(snapshot, writable: false));
            var version = reader.ReadByte();
            if (version != SnapshotVersion) throw new FormatException($"unknown device snapshot version {version}");
            var windows = new DeviceWindows(deviceId, partition, settings) { Watermark = reader.ReadInt64() };
            var panes = reader.Read7BitEncodedInt();
            var index = 0L;
            for (var i = 0; i < panes; i++)
            {
                var step = reader.Read7BitEncodedInt64();
                if (i > 0 && (step <= 0 || step > long.MaxValue - index)) throw new FormatException("pane indexes must ascend");
                index = i == 0 ? step : index + step;
                var length = reader.Read7BitEncodedInt();
                windows._panes.Put(index, TDigest.FromBytes(reader.ReadBytes(length)));
            }
            var fired = reader.Read7BitEncodedInt();
            for (var i = 0; i < fired; i++)
            {
                var end = reader.ReadInt64();
                var window = new FiredWindow { Revision = reader.Read7BitEncodedInt(), Dirty = reader.ReadBoolean(), Taken = true };
                windows._fired.Add(end, window);
                if (window.Dirty) windows._dirty++;
            }
            if (reader.BaseStream.Position != snapshot.Length) throw new FormatException("trailing bytes after the device snapshot");
            windows._wake = windows.ComputeWakeUp();
            return windows;
        }
        catch (EndOfStreamException e)
        {
            throw new FormatException("device snapshot is truncated", e);
        }
    }
}
