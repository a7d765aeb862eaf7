using Confluent.Kafka;
using MetricsCollector.Configuration;
using MetricsCollector.Ingest;
using MetricsCollector.Kafka;

namespace MetricsCollector.Tests.Ingest;

public sealed class IngestServiceTests
{
    [Fact]
    public void The_group_consumer_gets_the_properties_and_keeps_what_the_group_needs()
    {
        var settings = CollectorSettings.Load(null, new Dictionary<string, string>());
        var config = IngestService.ConsumerConfigOf(new KafkaClients("kafka-1:9093", new Dictionary<string, string> { ["sasl.username"] = "mc" }), settings, "mockCluster1");

        Assert.Equal("mc", config.SaslUsername);
        Assert.Equal("kafka-1:9093", config.BootstrapServers);
        Assert.Equal(settings.GroupId, config.GroupId);
        Assert.Equal(5000, config.SessionTimeoutMs);
        // No silent reset: an offset the log no longer has is reported, so a replaced log is detected.
        Assert.Equal(AutoOffsetReset.Error, config.AutoOffsetReset);
    }
}
