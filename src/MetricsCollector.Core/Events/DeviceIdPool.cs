using System.Text;

namespace MetricsCollector.Core.Events;

/// <summary>
/// Interns device ids by their UTF-8 bytes, so that decoding the id of a known device allocates
/// nothing and every event of a device carries the same <see cref="string"/> instance.
/// </summary>
/// <remarks>
/// <para>The table is keyed by bytes rather than chars because the record value is UTF-8: a
/// <c>Dictionary&lt;string, string&gt;</c> alternate lookup by <c>ReadOnlySpan&lt;char&gt;</c> would
/// transcode every id before looking it up (see DecodeBenchmarks for the comparison).</para>
/// <para>Bounded: once <see cref="MaxEntries"/> ids are held, further new ids are returned as fresh
/// strings, correct but allocated on every call, and not stored. Nothing is evicted, because a
/// flood of one-off ids (a broken or hostile producer) would otherwise push out the steady
/// devices, and the pool would allocate for them too. Memory is about
/// 100 + 3 × (id length) bytes per ASCII id, counting the string, the key bytes and the half-empty slot table.</para>
/// <para>Not thread-safe: give each decoder (one per partition stream) its own pool.</para>
/// </remarks>
public sealed class DeviceIdPool
{
    /// <summary>The default bound on the number of ids held.</summary>
    public const int DefaultMaxEntries = 1_000_000;

    // Keeps the slot array's doubling below Array.MaxLength.
    private const int MaxMaxEntries = 1 << 28;
    private const int InitialSlots = 1024;

    // Open addressing with linear probing; a null Value marks an empty slot. Load stays at or
    // below one half, so a miss ends after a probe or two.
    private Slot[] _slots = new Slot[InitialSlots];

    // All keys back to back, so an entry costs one string and no byte[] of its own.
    private byte[] _keys = new byte[InitialSlots * 16];
    private int _keysLength;

    /// <param name="maxEntries">How many distinct ids to hold, 0 to intern nothing.</param>
    public DeviceIdPool(int maxEntries = DefaultMaxEntries)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxEntries);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxEntries, MaxMaxEntries);
        MaxEntries = maxEntries;
    }

    /// <summary>How many distinct ids to hold at most.</summary>
    public int MaxEntries { get; }

    /// <summary>How many distinct ids are held.</summary>
    public int Count { get; private set; }

    /// <summary>
    /// The id whose UTF-8 encoding is <paramref name="utf8"/>: the same instance on every call
    /// while the pool holds it. <paramref name="utf8"/> must be valid UTF-8 (the decoder checks).
    /// </summary>
    public string GetOrAdd(ReadOnlySpan<byte> utf8)
    {
        int hash = Hash(utf8);
        int mask = _slots.Length - 1;
        int index = hash & mask;
        while (_slots[index].Value is { } value)
        {
            ref readonly Slot slot = ref _slots[index];
            if (slot.Hash == hash && _keys.AsSpan(slot.KeyOffset, slot.KeyLength).SequenceEqual(utf8))
            {
                return value;
            }

            index = (index + 1) & mask;
        }

        string id = Encoding.UTF8.GetString(utf8);
        if (Count < MaxEntries)
        {
            Add(hash, utf8, id);
        }

        return id;
    }

    // HashCode is seeded per process, so a producer cannot pick ids that all collide.
    private static int Hash(ReadOnlySpan<byte> utf8)
    {
        var hash = default(HashCode);
        hash.AddBytes(utf8);
        return hash.ToHashCode();
    }

    private void Add(int hash, ReadOnlySpan<byte> utf8, string id)
    {
        if ((Count + 1) * 2 > _slots.Length)
        {
            Grow();
        }

        if (_keysLength + utf8.Length > _keys.Length)
        {
            long doubled = Math.Max((long)_keysLength + utf8.Length, 2L * _keys.Length);
            Array.Resize(ref _keys, (int)Math.Min(doubled, Array.MaxLength));
        }

        utf8.CopyTo(_keys.AsSpan(_keysLength));
        Insert(_slots, new Slot(id, hash, _keysLength, utf8.Length));
        _keysLength += utf8.Length;
        Count++;
    }

    private void Grow()
    {
        var slots = new Slot[_slots.Length * 2];
        foreach (Slot slot in _slots)
        {
            if (slot.Value is not null)
            {
                Insert(slots, slot);
            }
        }

        _slots = slots;
    }

    private static void Insert(Slot[] slots, Slot slot)
    {
        int mask = slots.Length - 1;
        int index = slot.Hash & mask;
        while (slots[index].Value is not null)
        {
            index = (index + 1) & mask;
        }

        slots[index] = slot;
    }

    private readonly record struct Slot(string? Value, int Hash, int KeyOffset, int KeyLength);
}
