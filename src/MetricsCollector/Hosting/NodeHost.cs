using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Hosting;
using Akka.Cluster.Sharding;
using Akka.Cluster.Sharding.External;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Remote.Hosting;
using MetricsCollector.Api;
using MetricsCollector.Configuration;
using MetricsCollector.Devices;
using MetricsCollector.Ingest;
using MetricsCollector.Membership;
using MetricsCollector.Observability;
using MetricsCollector.Partitions;
using MetricsCollector.ReadSide;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.FileProviders;

namespace MetricsCollector.Hosting;

/// <summary>The one place where a node is wired: store, actor system, ingest, REST API, health and metrics.</summary>
public static class NodeHost
{
    public const string SystemName = "metrics-collector";

    public static WebApplication Build(CollectorSettings settings, string kafkaBootstrap, IEnumerable<IHostedServiceRegistration>? extras = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://0.0.0.0:{settings.HttpPort}");
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(60));
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        // One line per entry, with the UTC time, so that an operator can line the host's entries up with Akka's.
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.UseUtcTimestamp = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
        });

        var store = ResultStoreFactory.Create(settings.StoreProvider, settings.StoreConnection);
        var metrics = new CollectorMetrics();
        var readiness = new NodeReadiness(kafkaBootstrap);
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton(metrics);
        builder.Services.AddSingleton(readiness);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<IPartitionProgressStore>(new StoreProgress(store));
        builder.Services.AddSingleton<ILatestTopN, TopNClient>();

        builder.Services.AddAkka(SystemName, (akka, services) =>
        {
            // No seed nodes: this node seeds itself (joining its own address works with port 0 too).
            var seeds = settings.SeedNodes.Select(s => $"akka.tcp://{SystemName}@{s}").ToArray();
            akka.AddHocon(AkkaConfig(settings), HoconAddMode.Prepend)
                .AddHocon(Akka.Persistence.Sql.SqlPersistence.DefaultConfiguration, HoconAddMode.Append)
                .WithRemoting(settings.ClusterHost, settings.ClusterPort)
                .WithClustering(new ClusterOptions { SeedNodes = seeds, Roles = ["collector"] })
                .WithSingleton<TopNProxy>(
                    "top-n",
                    (_, _, _) => TopNActor.Props(store, settings.Windows.Spec.Slide),
                    new ClusterSingletonOptions { Role = "collector" },
                    createProxyToo: true)
                .WithActors((system, registry) =>
                {
                    var cluster = Cluster.Get(system);
                    cluster.RegisterOnMemberUp(readiness.MarkClusterUp);
                    if (seeds.Length == 0) cluster.Join(cluster.SelfAddress);
                    if (settings.DownOnRefusedConnection) system.ActorOf(RefusedConnectionDowning.Props(), "refused-connection-downing");
                    var writer = system.ActorOf(ResultWriter.Props(store, registry.Get<TopNProxy>(), metrics), "result-writer");
                    var deviceSettings = new DeviceSettings(settings.Windows, settings.SnapshotAfterEvents, settings.SnapshotInterval, settings.PassivateAfter);
                    var clock = TimeProvider.System;
                    var sharding = ClusterSharding.Get(system);
                    var shardingSettings = ClusterShardingSettings.Create(system).WithRole("collector");
                    // Shards go where the consumer group puts their partitions (IngestService tells the
                    // allocation client on assignment), so a device's records never cross the network.
                    var region = sharding.Start(
                        DeviceShardMessageExtractor.TypeName,
                        entityId =>
                        {
                            var (deviceId, partition) = DeviceShardMessageExtractor.ParseEntityId(entityId);
                            return DeviceActor.Props(deviceId, partition, deviceSettings, writer, metrics, clock);
                        },
                        shardingSettings,
                        new DeviceShardMessageExtractor(),
                        new ExternalShardAllocationStrategy(system, DeviceShardMessageExtractor.TypeName),
                        StopDevice.Instance);
                    registry.Register<DeviceRegion>(region);
                });
        });
        builder.Services.AddHostedService<StoreSchemaService>();
        builder.Services.AddSingleton(new RetentionSettings(TimeSpan.FromDays(7))).AddHostedService<RetentionService>();
        builder.Services.AddHostedService<IngestService>();
        foreach (var extra in extras ?? []) extra.Register(builder.Services);

        builder.Services.AddMetricsApi();
        builder.Services.AddHealthChecks()
            .AddCheck<LivenessCheck>("actor-system", tags: ["live"])
            .AddCheck<ReadinessCheck>("ready", tags: ["ready"]);

        var app = builder.Build();
        app.UseMetricsApi();
        app.MapHealthChecks("/health/live", new() { Predicate = c => c.Tags.Contains("live") });
        app.MapHealthChecks("/health/ready", new() { Predicate = c => c.Tags.Contains("ready") });
        app.MapGet("/metrics", (CollectorMetrics m) => Results.Text(m.ToPrometheusText(), "text/plain; version=0.0.4; charset=utf-8"));
        app.MapStatusApi();
        // The live page at `/`: files copied beside the executable, so it is found from any working directory.
        var page = new PhysicalFileProvider(Path.Combine(AppContext.BaseDirectory, "wwwroot"));
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = page });
        app.UseStaticFiles(new StaticFileOptions { FileProvider = page });
        return app;
    }

    /// <summary>How Akka's config names <see cref="RefusalAwareFailureDetector"/>.</summary>
    public static readonly string FailureDetectorClass = $"{typeof(RefusalAwareFailureDetector).FullName}, {typeof(RefusalAwareFailureDetector).Assembly.GetName().Name}";

    private static Config AkkaConfig(CollectorSettings settings)
    {
        var provider = settings.StoreProvider == "postgresql" ? "PostgreSQL.15" : "SQLite.MS";
        var connection = System.Text.Json.JsonSerializer.Serialize(settings.PersistenceConnection);
        return ConfigurationFactory.ParseString($$"""
            akka {
              loglevel = INFO
              loggers = ["Akka.Event.DefaultLogger"]
              coordinated-shutdown.exit-clr = off
              persistence {
                journal {
                  plugin = "akka.persistence.journal.sql"
                  sql { connection-string = {{connection}}, provider-name = "{{provider}}", auto-initialize = on }
                }
                snapshot-store {
                  plugin = "akka.persistence.snapshot-store.sql"
                  sql { connection-string = {{connection}}, provider-name = "{{provider}}", auto-initialize = on }
                }
              }
              cluster {
                # A node whose process is gone (kill -9, a crash) refuses connections on its port and
                # is downed 1-2 s after it dies (RefusedConnectionDowning, which also makes the
                # failure detector report it at once). What stays silent without refusing (a paused
                # process, a lost host, a partition) goes through the failure detector and keep-
                # majority split-brain resolution, decided 4 s after the membership settles: with a
                # 3 s heartbeat pause such a node is unreachable 4-8 s after it stops and downed 8-12 s
                # after. Under load the survivors' heartbeats come up to 3-5 s apart and they see each
                # other unreachable for a second or so; the 4 s leave room for that.
                downing-provider-class = "Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster"
                split-brain-resolver {
                  active-strategy = keep-majority
                  stable-after = 4s
                  down-all-when-unstable = on
                }
                # How long the shard coordinator keeps a removed node's shards before it places them
                # elsewhere (stable-after unless set), so that a downed node that is still running
                # can stop its shards first. Here the Kafka group fences instead: a partition's shard
                # receives records only from the node the group assigned that partition to, and a
                # downed node's partitions go to another only once it has left the group or its
                # session has expired. So 1 s, and take-over after a kill -9 is 4 s quicker.
                down-removal-margin = 1s
                # The leader removes a downed node on its next tick once every member has seen the
                # Down: a quarter-second tick instead of 1 s. Gossip stays at 1 s: at 250 ms the
                # take-overs were faster, but four benchmark runs in a row ended with the resolver
                # downing busy survivors that had marked each other unreachable (it happens at 1 s
                # too on two shared cores, less often).
                leader-actions-interval = 250ms
                failure-detector {
                  acceptable-heartbeat-pause = 3s
                  threshold = 8.0
                  {{(settings.DownOnRefusedConnection ? $"implementation-class = \"{FailureDetectorClass}\"" : "")}}
                }
                run-coordinated-shutdown-when-down = on
                sharding {
                  # Shard locations live in distributed data, not in the journal: devices are the only persistent actors.
                  state-store-mode = ddata
                  remember-entities = off
                  passivation.strategy = none
                  # Devices stop through StopDevice so that they snapshot first.
                  handoff-timeout = 30s
                  # How soon a shard follows its partition to the node that now consumes it.
                  rebalance-interval = 2s
                  # Coordinator state stays written to every member (Akka's default for fewer than
                  # five), though a write stalls until a dead member is removed: majority writes and a
                  # shorter write timeout were both measured worse (docs/benchmarks.md, fifth recovery
                  # round), and a killed node is now removed about 2.5 s after it dies.
                }
              }
            }
            """);
    }
}

/// <summary>An extra hosted service for a node (the embedded generator), registered by the caller.</summary>
public interface IHostedServiceRegistration
{
    void Register(IServiceCollection services);
}

/// <summary>Creates the read side's tables before anything writes to them.</summary>
internal sealed class StoreSchemaService(IResultStore store) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => store.EnsureSchemaAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

internal sealed class LivenessCheck(ActorSystem system) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(system.WhenTerminated.IsCompleted
            ? HealthCheckResult.Unhealthy("actor system terminated")
            : HealthCheckResult.Healthy());
}

/// <summary>Ready: a member of the cluster that is Up, consuming Kafka, and able to reach the store.</summary>
internal sealed class ReadinessCheck(ActorSystem system, NodeReadiness readiness, IResultStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var status = Cluster.Get(system).SelfMember.Status;
        if (status != MemberStatus.Up) return HealthCheckResult.Unhealthy($"cluster member is {status}");
        if (!readiness.Consuming) return HealthCheckResult.Unhealthy("not consuming Kafka");
        try
        {
            await store.PingAsync(cancellationToken);
        }
        catch (Exception e)
        {
            return HealthCheckResult.Unhealthy("store unreachable", e);
        }
        return HealthCheckResult.Healthy();
    }
}

/// <summary>The API's view of the top-N singleton, through its proxy.</summary>
internal sealed class TopNClient(ActorRegistry registry) : ILatestTopN
{
    public async Task<IReadOnlyList<Core.Windows.WindowResult>> TopAsync(int n, Core.Windows.RankBy by, CancellationToken ct)
    {
        var proxy = await registry.GetAsync<TopNProxy>(ct);
        try
        {
            var answer = await proxy.Ask<TopNAnswer>(new GetTopN(n, by), TimeSpan.FromSeconds(3), ct);
            return answer.Rows;
        }
        catch (AskTimeoutException e)
        {
            // The API answers 503 for a TimeoutException: the singleton is moving or its node is down.
            throw new TimeoutException("the top-N singleton did not answer within 3 s", e);
        }
    }
}
