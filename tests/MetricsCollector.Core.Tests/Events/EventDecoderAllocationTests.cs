using System.Text;
using MetricsCollector.Core.Events;

namespace MetricsCollector.Core.Tests.Events;

public class EventDecoderAllocationTests
{
    [Fact]
    public void Decoding_known_devices_allocates_nothing()
    {
        var decoder = new EventDecoder();
        byte[][] values = Enumerable.Range(0, 100)
            .Select(i => i % 10 == 0
                ? $$"""{"site":{"rack":[1,2]},"deviceId":"dev\u0069ce-{{i}}","timestamp":{{1764307200000 + i}},"cpuUsage":{{i % 101}}.5e-1}"""
                : $$"""{"deviceId":"device-{{i}}","timestamp":{{1764307200000 + i}},"cpuUsage":{{i % 101}}.986}""")
            .Select(Encoding.UTF8.GetBytes)
            .ToArray();
        foreach (byte[] value in values)
        {
            Assert.True(decoder.TryDecode(value, out _, out _));
        }

        double checksum = 0;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            decoder.TryDecode(values[i % values.Length], out CpuEvent evt, out _);
            checksum += evt.CpuUsage;
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.True(checksum > 0);
    }
}
