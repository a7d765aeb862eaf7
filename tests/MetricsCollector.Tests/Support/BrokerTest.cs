using MetricsCollector.Kafka;

namespace MetricsCollector.Tests.Support;

/// <summary>A test with its own embedded broker (the product's topics created) and a work directory, both removed after it.</summary>
public abstract class BrokerTest : IAsyncLifetime
{
    protected EmbeddedKafka Kafka { get; } = EmbeddedKafka.Start();

    protected string Dir { get; } = Directory.CreateTempSubdirectory("mc-test-").FullName;

    public virtual Task InitializeAsync()
    {
        ProductTopics.Create(Kafka);
        return Task.CompletedTask;
    }

    public virtual Task DisposeAsync()
    {
        Kafka.Dispose();
        Directory.Delete(Dir, recursive: true);
        return Task.CompletedTask;
    }
}
