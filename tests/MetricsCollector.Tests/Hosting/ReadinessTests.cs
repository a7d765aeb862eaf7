using System.Net;
using System.Text.Json;
using MetricsCollector.Kafka;
using MetricsCollector.Tests.EndToEnd;
using MetricsCollector.Tests.ReadSide;
using MetricsCollector.Tests.Support;
using MetricsCollector.Tests.Support.Processes;

namespace MetricsCollector.Tests.Hosting;

/// <summary>
/// <c>/health/ready</c> of a real node: not ready until the consumer group has assigned to it
/// (the result routes answer 503 problem+json meanwhile), ready after, and not ready while the
/// store is down; the answer names what is not ready.
/// </summary>
public sealed class ReadinessTests : IAsyncLifetime
{
    private readonly EmbeddedKafka _kafka = EmbeddedKafka.Start();
    private readonly string _dir = Directory.CreateTempSubdirectory("mc-ready-").FullName;

    public Task InitializeAsync()
    {
        ProductTopics.Create(_kafka);
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        _kafka.Dispose();
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task A_node_is_not_ready_and_refuses_the_result_routes_until_the_group_assigns_to_it()
    {
        // The broker's first rebalance of a group waits 3 s for more members (Kafka's default):
        // meanwhile the node is up, Up in its cluster and consuming, but has no assignment.
        await using var node = await TestNode.StartAsync(_kafka.BootstrapServers, Path.Combine(_dir, "metrics.db"));

        var (status, description) = await ReadyAsync(node);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Contains("no assignment from the consumer group yet", description, StringComparison.Ordinal);
        using (var top = await node.Http.GetAsync(new Uri("/metrics/top/3", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, top.StatusCode);
            Assert.Equal("application/problem+json", top.Content.Headers.ContentType?.MediaType);
            Assert.Contains("no assignment from the consumer group yet", await top.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        // Health and metrics stay reachable while the node is not ready.
        Assert.Equal(HttpStatusCode.OK, (await node.Http.GetAsync(new Uri("/metrics", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await node.Http.GetAsync(new Uri("/health/live", UriKind.Relative))).StatusCode);

        await PipelineEndToEndTests.WaitUntilAsync(async () => (await ReadyAsync(node)).Status == HttpStatusCode.OK, TimeSpan.FromSeconds(60));
        Assert.Equal("ready", (await ReadyAsync(node)).Description);
        Assert.Equal(HttpStatusCode.OK, (await node.Http.GetAsync(new Uri("/metrics/top/3", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task A_node_is_not_ready_while_its_store_is_down_and_ready_again_when_it_is_back()
    {
        using var postgres = new LocalPostgres();
        await postgres.StartAsync();
        var database = new PostgresStoreFixture(postgres.ConnectionString);
        await database.InitializeAsync();
        try
        {
            _kafka.SetGroupInitialRebalanceDelay(TimeSpan.Zero);
            await using var node = await TestNode.StartAsync(_kafka.BootstrapServers, "postgresql", database.DatabaseConnectionString, _dir);
            await PipelineEndToEndTests.WaitUntilAsync(async () => (await ReadyAsync(node)).Status == HttpStatusCode.OK, TimeSpan.FromSeconds(60));

            await postgres.StopAsync();
            var description = "";
            await PipelineEndToEndTests.WaitUntilAsync(async () =>
            {
                (var status, description) = await ReadyAsync(node);
                return status == HttpStatusCode.ServiceUnavailable;
            }, TimeSpan.FromSeconds(30));
            Assert.Contains("result store unreachable", description, StringComparison.Ordinal);
            Assert.Contains("snapshot store unreachable", description, StringComparison.Ordinal);

            await postgres.StartAsync();
            await PipelineEndToEndTests.WaitUntilAsync(async () => (await ReadyAsync(node)).Status == HttpStatusCode.OK, TimeSpan.FromSeconds(60));
        }
        finally
        {
            await postgres.StartAsync();
            await database.DisposeAsync();
        }
    }

    private static async Task<(HttpStatusCode Status, string Description)> ReadyAsync(TestNode node)
    {
        using var response = await node.Http.GetAsync(new Uri("/health/ready", UriKind.Relative));
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var check = body.RootElement.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "ready");
        return (response.StatusCode, check.GetProperty("description").GetString() ?? "");
    }
}
