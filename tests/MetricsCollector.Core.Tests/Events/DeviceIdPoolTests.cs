using System.Text;
using MetricsCollector.Core.Events;

namespace MetricsCollector.Core.Tests.Events;

public class DeviceIdPoolTests
{
    [Fact]
    public void Same_bytes_give_the_same_instance()
    {
        var pool = new DeviceIdPool();

        string first = pool.GetOrAdd("device-11"u8);
        string second = pool.GetOrAdd("device-11"u8.ToArray());

        Assert.Equal("device-11", first);
        Assert.Same(first, second);
        Assert.Equal(1, pool.Count);
    }

    [Fact]
    public void Different_bytes_give_different_ids()
    {
        var pool = new DeviceIdPool();

        Assert.Equal("device-1", pool.GetOrAdd("device-1"u8));
        Assert.Equal("device-10", pool.GetOrAdd("device-10"u8));
        Assert.Equal(2, pool.Count);
    }

    [Fact]
    public void Non_ascii_ids_round_trip()
    {
        var pool = new DeviceIdPool();
        const string id = "Gerät-🌡️-温度";

        string interned = pool.GetOrAdd(Encoding.UTF8.GetBytes(id));

        Assert.Equal(id, interned);
        Assert.Same(interned, pool.GetOrAdd(Encoding.UTF8.GetBytes(id)));
    }

    [Fact]
    public void Ids_survive_the_table_growing()
    {
        var pool = new DeviceIdPool();
        var first = new string[10_000];
        for (int i = 0; i < first.Length; i++)
        {
            first[i] = pool.GetOrAdd(Encoding.UTF8.GetBytes($"device-{i}"));
        }

        for (int i = 0; i < first.Length; i++)
        {
            Assert.Same(first[i], pool.GetOrAdd(Encoding.UTF8.GetBytes($"device-{i}")));
        }

        Assert.Equal(first.Length, pool.Count);
    }

    [Fact]
    public void Past_the_cap_new_ids_are_correct_but_not_held()
    {
        var pool = new DeviceIdPool(maxEntries: 2);
        string a = pool.GetOrAdd("a"u8);
        string b = pool.GetOrAdd("b"u8);

        string c1 = pool.GetOrAdd("c"u8);
        string c2 = pool.GetOrAdd("c"u8);

        Assert.Equal("c", c1);
        Assert.Equal("c", c2);
        Assert.NotSame(c1, c2);
        Assert.Equal(2, pool.Count);
        Assert.Same(a, pool.GetOrAdd("a"u8));
        Assert.Same(b, pool.GetOrAdd("b"u8));
    }

    [Fact]
    public void A_cap_of_zero_interns_nothing()
    {
        var pool = new DeviceIdPool(maxEntries: 0);

        Assert.Equal("a", pool.GetOrAdd("a"u8));
        Assert.Equal(0, pool.Count);
    }

    [Fact]
    public void A_negative_cap_is_refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new DeviceIdPool(maxEntries: -1));
}
