using Akka.Actor;
using MetricsCollector.Configuration;
using MetricsCollector.Core.Digests;
using MetricsCollector.Core.Windows;
using MetricsCollector.Hosting;
using MetricsCollector.ReadSide;

namespace MetricsCollector.Tests.ReadSide;

/// <summary>The top-N protocol as it crosses between nodes: bound to its own serializer in the node's configuration, and back as it was sent.</summary>
public sealed class TopNSerializerTests : IAsyncLifetime
{
    // The node's own Akka configuration, as NodeHost gets it.
    private readonly ActorSystem _system = ActorSystem.Create("serializer-test", AkkaConfiguration.For(CollectorSettings.Load(null, new Dictionary<string, string>())));

    public static TheoryData<object> Messages()
    {
        var rows = new[]
        {
            new WindowResult("device-11", 1_764_307_200_000, 1_764_309_000_000, 49.8, 91.0, 97.1, 99.2, 0.4, 99.9, 50.2, 18_000, 3, true, 1_764_309_300_123,
                new PercentileBounds(new ValueRange(49.5, 50.1), new ValueRange(90.2, 91.4), new ValueRange(96.8, 97.4), new ValueRange(99.0, 99.5))),
            // A name beyond ASCII, a window of one value, figures whose text would round.
            new WindowResult("capteur-é-ü-7", 0, 60_000, 0.1 + 0.2, 1.0 / 3, 2.0 / 3, 100, 0.1 + 0.2, 100, 1e-300, 1, 1, false, long.MaxValue,
                PercentileBounds.Within(0.1 + 0.2, 100)),
        };
        return [new RowsPublished(rows), new RowsPublished([]), new TopNAnswer(rows), new PartitionWatermark(7, -5_000), new PartitionWatermark(0, long.MinValue),
            new TopicPartitions(12), new GetTopN(10, RankBy.P99)];
    }

    [Theory]
    [MemberData(nameof(Messages))]
    public void Each_message_of_the_protocol_goes_through_its_serializer_and_comes_back_equal(object message)
    {
        var serialization = _system.Serialization;
        var serializer = serialization.FindSerializerFor(message);
        Assert.IsType<TopNSerializer>(serializer);

        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
        var back = serialization.Deserialize(serializer.ToBinary(message), serializer.Identifier, manifest);

        switch (message)
        {
            case RowsPublished sent:
                Assert.Equal(sent.Rows, Assert.IsType<RowsPublished>(back).Rows);
                break;
            case TopNAnswer sent:
                Assert.Equal(sent.Rows, Assert.IsType<TopNAnswer>(back).Rows);
                break;
            default:
                Assert.Equal(message, back);
                break;
        }
    }

    [Fact]
    public void A_row_is_its_fields_in_binary_under_a_quarter_of_what_the_default_json_serializer_writes()
    {
        var rows = Enumerable.Range(0, 100).Select(i => new WindowResult($"device-{i}", i * 60_000L, i * 60_000L + 1_800_000, 49.8 + i, 91.0, 97.1, 99.2, 0.4, 99.9, 50.2,
            18_000, 3, false, 1_764_309_300_123, PercentileBounds.Within(0.4, 99.9))).ToArray();
        var message = new RowsPublished(rows);
        var json = new Akka.Serialization.NewtonSoftJsonSerializer((ExtendedActorSystem)_system);

        var binary = _system.Serialization.FindSerializerFor(message).ToBinary(message).Length;

        Assert.InRange(binary, 100 * 150, 100 * 180);
        // 86,000 bytes when this was written: type names and every figure as text.
        Assert.True(json.ToBinary(message).Length > 4 * binary);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _system.Terminate();
}
