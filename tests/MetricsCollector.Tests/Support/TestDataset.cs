using System.Globalization;
using System.Text;
using Confluent.Kafka;

namespace MetricsCollector.Tests.Support;

/// <summary>
/// A seeded stream of device events with out-of-order, late, too-late and invalid records,
/// produced through the Kafka protocol keyed by device id with the murmur2 partitioner, or
/// without keys spread over the partitions at random (as unkeyed producers do, so one device's
/// records land on several partitions). Event times start an hour ago, so once production stops
/// the idle rule closes every window.
/// </summary>
public static class TestDataset
{
    private static readonly string[] Invalid =
    [
        "not json at all",
        """{"deviceId":"d","timestamp":1764307200000}""",
        """{"deviceId":"d","timestamp":"1764307200000","cpuUsage":5}""",
        """{"deviceId":"d","timestamp":1764307200000,"cpuUsage":150}""",
        """{"deviceId":"","timestamp":1764307200000,"cpuUsage":5}""",
        """[1,2,3]""",
    ];

    /// <summary>
    /// Produces the stream; with <paramref name="perSecond"/> it is paced, so a node can be stopped
    /// and started mid-stream. With <paramref name="unkeyedOver"/> partitions, records carry no key
    /// and each goes to a partition drawn at random (seeded) among the first that many.
    /// </summary>
    public static async Task<int> ProduceAsync(
        string bootstrap, string topic, int seed, int devices, int events, long slideMs, long boundMs, long latenessMs,
        int perSecond = 0, long? startMs = null, int unkeyedOver = 0)
    {
        var random = new Random(seed);
        // Its own generator, so the events are the same keyed or not.
        var spread = new Random(~seed);
        var clock = startMs ?? DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeMilliseconds();
        var began = DateTime.UtcNow;
        using var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig
        {
            BootstrapServers = bootstrap,
            Partitioner = Partitioner.Murmur2Random,
            EnableIdempotence = true,
            LingerMs = 5,
        })
            // While a test holds the broker down, librdkafka's default logger writes every reconnect
            // attempt to stderr: hundreds of lines that buried the end of CI's log. The producer
            // retries by itself, and the tests judge by what the topic holds.
            .SetLogHandler((_, _) => { })
            .Build();
        for (var i = 0; i < events; i++)
        {
            clock += random.Next(0, 40);
            var device = $"device-{random.Next(devices)}";
            var roll = random.Next(100);
            long time = roll switch
            {
                < 70 => clock,
                < 82 => clock - (long)(random.NextDouble() * boundMs),
                < 90 => clock - boundMs - (long)(random.NextDouble() * latenessMs),
                < 96 => clock - boundMs - latenessMs - slideMs - (long)(random.NextDouble() * 60_000),
                _ => -1,
            };
            var value = time < 0
                ? Encoding.UTF8.GetBytes(Invalid[random.Next(Invalid.Length)])
                : Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
                    $$"""{"deviceId":"{{device}}","timestamp":{{time}},"cpuUsage":{{Math.Round(random.NextDouble() * 100, random.Next(1, 4))}}}"""));
            // Unkeyed records go to partitions at random (seeded), as a producer without keys spreads them.
            var destination = unkeyedOver > 0 ? new TopicPartition(topic, spread.Next(unkeyedOver)) : new TopicPartition(topic, Partition.Any);
            var message = new Message<byte[], byte[]> { Key = unkeyedOver > 0 ? null! : Encoding.UTF8.GetBytes(device), Value = value };
            // Unpaced, the producer's local queue can fill faster than the broker takes records: wait for room.
            while (true)
            {
                try
                {
                    producer.Produce(destination, message);
                    break;
                }
                catch (ProduceException<byte[], byte[]> e) when (e.Error.Code == ErrorCode.Local_QueueFull)
                {
                    producer.Poll(TimeSpan.FromMilliseconds(50));
                }
            }
            if (i % 1_000 == 0) producer.Poll(TimeSpan.Zero);
            if (perSecond > 0 && i % 100 == 0)
            {
                var due = began + TimeSpan.FromSeconds((double)i / perSecond);
                if (due > DateTime.UtcNow) await Task.Delay(due - DateTime.UtcNow);
            }
        }
        producer.Flush(TimeSpan.FromSeconds(30));
        return events;
    }
}
