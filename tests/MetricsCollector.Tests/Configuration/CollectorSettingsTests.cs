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

    [Fact]
    public void Downing_on_refused_connections_is_on_unless_turned_off()
    {
        Assert.True(Load(null).DownOnRefusedConnection);
        Assert.False(Load("metrics-collector.cluster.down-on-refused-connection = off").DownOnRefusedConnection);
        var e = Assert.Throws<ConfigurationException>(() => Load("metrics-collector.cluster.down-on-refused-connection = auto"));
        Assert.Contains("cluster.down-on-refused-connection", e.Message);
    }

    [Fact]
    public void A_bad_generator_switch_names_its_variable()
    {
        var e = Assert.Throws<ConfigurationException>(() => Load("metrics-collector.generator.enabled = maybe"));
        Assert.Contains("MC_GENERATOR", e.Message);
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
