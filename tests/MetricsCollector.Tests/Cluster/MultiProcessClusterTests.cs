using MetricsCollector.Kafka;
using MetricsCollector.ReadSide;
using MetricsCollector.Tests.EndToEnd;
using MetricsCollector.Tests.ReadSide;
using MetricsCollector.Tests.Support;
using MetricsCollector.Tests.Support.Processes;
using Xunit.Abstractions;

namespace MetricsCollector.Tests.Cluster;

/// <summary>Node processes compete for the two cores; these tests run alone, after the others.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessClusterCollection
{
    public const string Name = "process cluster";
}

/// <summary>
/// Three `metrics-collector` node processes on a standalone `metrics-collector kafka` broker and
/// PostgreSQL, as users run a local cluster: killed with SIGKILL, restarted, joined by a fourth,
/// stopped with SIGTERM, and cut off from the broker and the store. After each, every row every
/// node serves equals the exact oracle, and the side topics hold each expected record once.
/// </summary>
[Collection(ProcessClusterCollection.Name)]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "xunit disposes the test through IAsyncLifetime.DisposeAsync.")]
public sealed class MultiProcessClusterTests : IAsyncLifetime
{
    private const int Devices = 60;
    private const int Partitions = ProductTopics.DefaultPartitions;
    private readonly ITestOutputHelper _output;
    private readonly string _dir = Directory.CreateTempSubdirectory("mc-procs-").FullName;
    private readonly PostgresStoreFixture _database = new();
    private BrokerProcess? _broker;
    private ProcessCluster? _cluster;
    private LocalPostgres? _ownPostgres;
    private string? _failure;

    public MultiProcessClusterTests(ITestOutputHelper output) => _output = output;

    private BrokerProcess Broker => _broker!;

    public async Task InitializeAsync()
    {
        // The database first: xunit does not dispose a test whose initialization threw, and a broker
        // process started before a failure would outlive the test run.
        await _database.InitializeAsync();
        _broker = await BrokerProcess.StartAsync(_dir);
    }

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            _output.WriteLine(_cluster.LogTails());
            _output.WriteLine(await _cluster.CountersAsync());
            await _cluster.DisposeAsync();
        }
        // After the nodes: stopped before them, it would fill their last log lines with store errors.
        _ownPostgres?.Dispose();
        _broker?.Dispose();
        await _database.DisposeAsync();
        // MC_TEST_KEEP_LOGS=1 keeps the broker's and nodes' logs for a post-mortem.
        if (Environment.GetEnvironmentVariable("MC_TEST_KEEP_LOGS") == "1") _output.WriteLine($"logs kept in {_dir}");
        else Directory.Delete(_dir, recursive: true);
        // Last, because CI keeps only the end of a run's output, and xunit prints the failure before it.
        if (_failure is not null) _output.WriteLine("FAILED: " + _failure);
    }

    [Fact]
    public Task Three_nodes_in_steady_state_equal_the_oracle() => Recording(async () =>
    {
        var cluster = Cluster(_database.DatabaseConnectionString);
        await cluster.StartAsync(3);
        await Produce(seed: 41, events: 60_000, perSecond: 0);

        await AssertResultAsync(_database.DatabaseConnectionString);
        foreach (var node in cluster.Nodes) Assert.NotEmpty(await node.PartitionsAsync());
    });

    [Fact]
    public Task Killing_two_nodes_one_after_the_other_and_restarting_them_loses_and_doubles_nothing() => Recording(async () =>
    {
        var (cluster, producing) = await StartStreamingAsync(_database.DatabaseConnectionString, seed: 42, events: 250_000);

        // The oldest node first: it hosts the shard coordinator and the top-N singleton.
        await cluster.WaitUntilBalancedAsync(Partitions, TimeSpan.FromSeconds(60));
        await Task.Delay(TimeSpan.FromSeconds(3));
        var first = await cluster.KillAndAwaitTakeOverAsync(cluster.Nodes[0], TimeSpan.FromSeconds(60));
        _output.WriteLine($"node1 killed: its partitions consumed again after {ProcessCluster.Format(first)}");
        AssertDownedOnRefusedConnections(cluster, cluster.Nodes[0]);
        await cluster.Nodes[0].StartAsync();
        await cluster.WaitUntilBalancedAsync(Partitions, TimeSpan.FromSeconds(60));

        var second = await cluster.KillAndAwaitTakeOverAsync(cluster.Nodes[2], TimeSpan.FromSeconds(60));
        _output.WriteLine($"node3 killed: its partitions consumed again after {ProcessCluster.Format(second)}");
        AssertDownedOnRefusedConnections(cluster, cluster.Nodes[2]);
        Assert.False(producing.IsCompleted, "the stream ended before the second kill; the test would not test a crash mid-stream");
        await cluster.Nodes[2].StartAsync();
        await producing;

        await AssertResultAsync(_database.DatabaseConnectionString, resultsTopic: true);
    });

    /// <summary>A killed node's port refuses at once, so a survivor downs it before heartbeats would.</summary>
    private static void AssertDownedOnRefusedConnections(ProcessCluster cluster, NodeProcess killed) =>
        Assert.Contains(cluster.Nodes, node => node != killed && node.Logged($":{killed.ClusterPort}: its cluster port refused"));

    [Fact]
    public Task A_fourth_node_takes_a_share_and_a_node_stopped_gracefully_hands_its_share_over() => Recording(async () =>
    {
        var (cluster, producing) = await StartStreamingAsync(_database.DatabaseConnectionString, seed: 43, events: 120_000);

        await Task.Delay(TimeSpan.FromSeconds(8));
        var fourth = await cluster.AddNodeAsync();
        await PipelineEndToEndTests.WaitUntilAsync(async () => (await fourth.PartitionsAsync()).Count > 0, TimeSpan.FromSeconds(60));
        _output.WriteLine($"node4 consumes partitions {string.Join(",", await fourth.PartitionsAsync())}");

        await cluster.Nodes[1].StopAsync();
        Assert.False(producing.IsCompleted, "the stream ended before the graceful stop");
        await producing;

        await AssertResultAsync(_database.DatabaseConnectionString);
    });

    /// <summary>
    /// A node is killed while the store is down: the survivors' new assignments cannot read their
    /// checkpoints until it is back, and must wait for it rather than stop consuming.
    /// </summary>
    [Fact]
    public Task The_nodes_ride_out_a_broker_outage_and_a_store_outage_of_20_seconds_each_and_a_crash_during_the_store_outage() => Recording(async () =>
    {
        var postgres = _ownPostgres = new LocalPostgres();
        await postgres.StartAsync();
        var database = new PostgresStoreFixture(postgres.ConnectionString);
        await database.InitializeAsync();
        var (cluster, producing) = await StartStreamingAsync(database.DatabaseConnectionString, seed: 44, events: 180_000);

        await Task.Delay(TimeSpan.FromSeconds(8));
        await Broker.DownAsync();
        await Task.Delay(TimeSpan.FromSeconds(20));
        await Broker.UpAsync();

        await Task.Delay(TimeSpan.FromSeconds(8));
        await postgres.StopAsync();
        await Task.Delay(TimeSpan.FromSeconds(2));
        await cluster.Nodes[2].KillAsync();
        await Task.Delay(TimeSpan.FromSeconds(18));
        await postgres.StartAsync();
        Assert.False(producing.IsCompleted, "the stream ended before the store outage ended");
        await cluster.Nodes[2].StartAsync();
        await producing;

        await AssertResultAsync(database.DatabaseConnectionString);
        Assert.All(cluster.Nodes, n => Assert.True(n.Running, $"{n.Name} died"));
    });

    /// <summary>Runs a test body and keeps the message of what failed, for the end of the output.</summary>
    private async Task Recording(Func<Task> body)
    {
        try
        {
            await body();
        }
        catch (Exception e)
        {
            _failure = e.GetType().Name + ": " + (e.Message.Length > 3_000 ? e.Message[..3_000] + " …" : e.Message);
            throw;
        }
    }

    /// <summary>Three nodes, then a seeded stream at 2,500 records/s that the test disturbs while it flows.</summary>
    private async Task<(ProcessCluster Cluster, Task<int> Producing)> StartStreamingAsync(string connection, int seed, int events)
    {
        var cluster = Cluster(connection);
        await cluster.StartAsync(3);
        return (cluster, Produce(seed, events, perSecond: 2_500));
    }

    private ProcessCluster Cluster(string connection) => _cluster = new ProcessCluster(Broker.BootstrapServers, connection, _dir);

    /// <summary>
    /// Event time advances 20 ms a record on average, so the stream ends 10 minutes before the wall
    /// clock: after it, the idle rule can close every window.
    /// </summary>
    private Task<int> Produce(int seed, int events, int perSecond) =>
        TestDataset.ProduceAsync(Broker.BootstrapServers, ProductTopics.Input, seed, Devices, events,
            PipelineEndToEndTests.Slide, PipelineEndToEndTests.Bound, PipelineEndToEndTests.Lateness, perSecond,
            startMs: DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - events * 20L - 600_000);

    /// <param name="resultsTopic">Also check the results topic: rows the killed nodes had stored but not produced must be there too.</param>
    private async Task AssertResultAsync(string connection, bool resultsTopic = false)
    {
        var oracle = KafkaOracle.Read(Broker.BootstrapServers, ProductTopics.Input,
            PipelineEndToEndTests.Size, PipelineEndToEndTests.Slide, PipelineEndToEndTests.Lateness, PipelineEndToEndTests.Bound);
        await using (var store = new PostgresResultStore(connection))
        {
            await PipelineEndToEndTests.WaitForAllFinalAsync(store, oracle.Windows, TimeSpan.FromSeconds(180));
            if (resultsTopic) await ResultsTopicCheck.AssertEqualsStoredRowsAsync(Broker.BootstrapServers, store, oracle.Windows, TimeSpan.FromSeconds(60));
        }
        foreach (var node in _cluster!.Running) await PipelineEndToEndTests.AssertRowsMatchAsync(node.Http, oracle.Windows);
        PipelineEndToEndTests.AssertSideTopics(Broker.BootstrapServers, oracle);
    }
}
