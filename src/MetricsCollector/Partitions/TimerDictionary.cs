using System.Collections;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace MetricsCollector.Partitions;

/// <summary>
/// The timers a <see cref="PartitionProgress"/> keeps: the watermark each device waits for. Immutable, so
/// commits whose timers did not change share one table, and its encoding is built once for all of them. A
/// partition's table changes in bursts (when a window end passes, every device of it moves on) while it
/// commits every second; at 100,000 devices a table is 10,000 entries and about 110 KB encoded, which
/// copied and encoded at every commit was a large object a partition a second.
/// </summary>
public sealed class TimerDictionary : IReadOnlyDictionary<string, long>
{
    public static readonly TimerDictionary Empty = new(new Dictionary<string, long>());

    private readonly Dictionary<string, long> _timers;
    private byte[]? _encoded;

    private TimerDictionary(Dictionary<string, long> owned) => _timers = owned;

    public static TimerDictionary Of(IEnumerable<KeyValuePair<string, long>> timers) => new(new Dictionary<string, long>(timers));

    /// <summary>A table over <paramref name="timers"/>, which the caller hands over and never changes again.</summary>
    internal static TimerDictionary Owning(Dictionary<string, long> timers) => new(timers);

    public int Count => _timers.Count;

    public long this[string key] => _timers[key];

    public IEnumerable<string> Keys => _timers.Keys;

    public IEnumerable<long> Values => _timers.Values;

    public bool ContainsKey(string key) => _timers.ContainsKey(key);

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out long value) => _timers.TryGetValue(key, out value);

    public IEnumerator<KeyValuePair<string, long>> GetEnumerator() => _timers.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The same devices waiting for the same times.</summary>
    public bool SameAs(TimerDictionary other) =>
        ReferenceEquals(this, other)
        || (Count == other.Count && _timers.All(t => other.TryGetValue(t.Key, out var time) && time == t.Value));

    /// <summary>
    /// The table as <see cref="PartitionProgress.Encode"/> writes it: devices wait for a few distinct times
    /// (their next window ends), so each time once with the devices that wait for it. Built on first use;
    /// racing builders make the same bytes.
    /// </summary>
    internal byte[] Encoded => _encoded ??= Encode();

    private byte[] Encode()
    {
        using var stream = new MemoryStream(8 + Count * 16);
        using (var writer = new BinaryWriter(stream, Encoding.UTF8))
        {
            var byTime = _timers.GroupBy(t => t.Value).ToList();
            writer.Write7BitEncodedInt(byTime.Count);
            foreach (var group in byTime)
            {
                writer.Write(group.Key);
                writer.Write7BitEncodedInt(group.Count());
                foreach (var timer in group) writer.Write(timer.Key);
            }
        }
        return stream.ToArray();
    }

    /// <summary>Reads what <see cref="Encoded"/> wrote.</summary>
    internal static TimerDictionary Read(BinaryReader reader)
    {
        var timers = new Dictionary<string, long>();
        var times = reader.Read7BitEncodedInt();
        for (var i = 0; i < times; i++)
        {
            var time = reader.ReadInt64();
            var devices = reader.Read7BitEncodedInt();
            for (var d = 0; d < devices; d++) timers[reader.ReadString()] = time;
        }
        return new TimerDictionary(timers);
    }

    /// <summary>Passes over what <see cref="Encoded"/> wrote without building a table (the device ids are not decoded).</summary>
    internal static void Skip(BinaryReader reader)
    {
        var times = reader.Read7BitEncodedInt();
        for (var i = 0; i < times; i++)
        {
            reader.BaseStream.Seek(sizeof(long), SeekOrigin.Current);
            var devices = reader.Read7BitEncodedInt();
            for (var d = 0; d < devices; d++)
            {
                var length = reader.Read7BitEncodedInt();
                if (length < 0 || reader.BaseStream.Seek(length, SeekOrigin.Current) > reader.BaseStream.Length) throw new EndOfStreamException();
            }
        }
    }
}
