using Akka.Configuration;
using MetricsCollector.Configuration;
using Xunit;

namespace MetricsCollector.Tests.Configuration;

public sealed class CollectorSettingsTests
{
    [Fact]
    public void The_session_timeout_is_chosen_by_broker_unless_configured()
    {
        Assert.Null(Load(null).KafkaSessionTimeout);
        Assert.Equal(TimeSpan.FromSeconds(9), Load("metrics-collector.kafka.session-timeout = 9s").KafkaSessionTimeout);
    }

    [Theory]
    [InlineData("500ms")]
    [InlineData("2h")]
    [InlineData("soon")]
    public void A_session_timeout_out_of_bounds_stops_the_node_with_its_name(string value)
    {
        var e = Assert.Throws<ConfigurationException>(() => Load($"metrics-collector.kafka.session-timeout = \"{value}\""));
        Assert.Contains("kafka.session-timeout", e.Message);
    }

    private static CollectorSettings Load(string? hocon)
    {
        string? file = null;
        try
        {
            if (hocon is not null)
            {
                file = Path.GetTempFileName();
                File.WriteAllText(file, hocon);
            }
            return CollectorSettings.Load(file, new Dictionary<string, string>());
        }
        finally
        {
            if (file is not null) File.Delete(file);
        }
    }
}
