using System.Diagnostics.Metrics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Hosting;
using Akka.Cluster.Sharding;
using Akka.Cluster.Sharding.External;
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
using Microsoft.Extensions.FileProviders;

namespace MetricsCollector.Hosting;

/// <summary>The one place where a node is wired: store, actor system, ingest, REST API, health and metrics.</summary>
public static class NodeHost
{
    public const string SystemName = "metrics-collector";

    public static WebApplication Build(CollectorSettings settings, string kafkaBootstrap, IEnumerable<IHostedServiceRegistration>? extras = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(settings.HttpBindUrl);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(60));
        builder.Logging.SetMinimumLevel(settings.LogLevel);
        builder.Logging.AddFilter("MetricsCollector", settings.OwnLogLevel);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        // It logs an error for every unhealthy poll; ReadinessGate logs the changes instead.
        builder.Logging.AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks", LogLevel.None);
        // One line per entry, with the UTC time, so that an operator can line the host's entries up with Akka's.
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.UseUtcTimestamp = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
        });

        var store = ResultStoreFactory.Create(settings.StoreProvider, settings.StoreConnection, resultsOutbox: settings.ResultsTopic is not null, settings.StoreFillFactor, settings.StoreSqlite);
        var readiness = new NodeReadiness(kafkaBootstrap);
        // Started after the actor system, whose actors wait for it where they read the store's tables unasked.
        var schema = new StoreSchemaService(store);
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton<InputTopic>();
        var backlog = new WriteBacklog(settings.WriteBacklogRows);
        builder.Services.AddSingleton(backlog);
        // On the store itself, not the container's checkpoint store: a host may wrap that one around the readers' store.
        builder.Services.AddSingleton(services => new RowFinality(
            new StoreProgress(store), services.GetRequiredService<InputTopic>(), settings, services.GetRequiredService<TimeProvider>()));
        // Readers see rows final only once every partition has stored its watermark past them; the writer and the top-N singleton use the store itself.
        builder.Services.AddSingleton<IResultStore>(services => new FinalRowsStore(store, services.GetRequiredService<RowFinality>()));
        // On the node's own meter factory, so that its OpenTelemetry reader sees its numbers only.
        builder.Services.AddSingleton(services => new CollectorMetrics(services.GetRequiredService<IMeterFactory>()));
        builder.Services.AddSingleton(readiness);
        builder.Services.AddSingleton<ReadinessGate>();
        builder.Services.AddSingleton<IReadinessGate>(services => services.GetRequiredService<ReadinessGate>());
        builder.Services.AddCollectorTelemetry(builder.Configuration);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<IPartitionProgressStore>(new StoreProgress(store));
        builder.Services.AddSingleton<TopNClient>();
        builder.Services.AddSingleton<ILatestTopN>(services => new FinalTopN(services.GetRequiredService<TopNClient>(), services.GetRequiredService<RowFinality>()));
        builder.Services.AddSingleton<FleetCache>();
        builder.Services.AddSingleton<LiveWindows>();

        builder.Services.AddAkka(SystemName, (akka, services) =>
        {
            var metrics = services.GetRequiredService<CollectorMetrics>();
            // No seed nodes: this node seeds itself (joining its own address works with port 0 too).
            var seeds = settings.SeedNodes.Select(s => $"{AkkaConfiguration.Protocol(settings)}://{SystemName}@{s}").ToArray();
            akka.AddHocon(AkkaConfiguration.For(settings), HoconAddMode.Prepend)
                .WithRemoting(settings.ClusterHost, settings.ClusterPort)
                .WithClustering(new ClusterOptions { SeedNodes = seeds, Roles = ["collector"] })
                .WithSingleton<TopNProxy>(
                    "top-n",
                    (_, _, _) => TopNActor.Props(store, settings.Windows.Spec),
                    new ClusterSingletonOptions { Role = "collector" },
                    createProxyToo: true)
                .WithActors((system, registry) =>
                {
                    PipelineDispatcher.Check(system);
                    var cluster = Cluster.Get(system);
                    cluster.RegisterOnMemberUp(readiness.MarkClusterUp);
                    metrics.WatchCluster(cluster);
                    if (seeds.Length == 0) cluster.Join(cluster.SelfAddress);
                    if (settings.DownOnRefusedConnection) system.ActorOf(RefusedConnectionDowning.Props(), "refused-connection-downing");
                    // Its own finality reader: it asks every few seconds, and sharing the API's would keep the API's
                    // one-second cache warm, so that a row just made final could be served not final for that second.
                    var resultsTopic = settings.ResultsTopic is { } topic
                        ? system.ActorOf(
                            ResultsTopicActor.Props(
                                store,
                                new RowFinality(new StoreProgress(store), services.GetRequiredService<InputTopic>(), settings, TimeProvider.System),
                                new Kafka.KafkaClients(kafkaBootstrap, settings.KafkaClientProperties),
                                topic,
                                settings,
                                schema.Ensured),
                            "results-topic")
                        : null;
                    var writer = system.ActorOf(ResultWriter.Props(store, registry.Get<TopNProxy>(), metrics, settings.ResultWriter, backlog, resultsTopic), "result-writer");
                    var deviceSettings = new DeviceSettings(settings.Windows, settings.SnapshotAfterEvents, settings.SnapshotInterval, settings.SnapshotTimeout);
                    var clock = TimeProvider.System;
                    var alarms = new DeviceAlarms(clock, DeviceAlarms.ResolutionFor(deviceSettings));
                    system.RegisterOnTermination(alarms.Dispose);
                    var sharding = ClusterSharding.Get(system);
                    // No idle passivation by the shard: it notes only messages that pass through it, and a
                    // partition sends straight to a device it knows, so the shard would stop busy devices.
                    // Partitions passivate their idle devices (PassivateDevice).
                    var shardingSettings = ClusterShardingSettings.Create(system).WithRole("collector").WithPassivateIdleAfter(TimeSpan.Zero);
                    // Shards go where the consumer group puts their partitions (IngestService tells the
                    // allocation client on assignment), so a device's records never cross the network.
                    var region = sharding.Start(
                        DeviceShardMessageExtractor.TypeName,
                        entityId =>
                        {
                            var (deviceId, partition) = DeviceShardMessageExtractor.ParseEntityId(entityId);
                            return DeviceActor.Props(deviceId, partition, deviceSettings, writer, metrics, clock, alarms).WithMailbox(DeviceMailbox.ConfigPath).WithDispatcher(PipelineDispatcher.Path);
                        },
                        shardingSettings,
                        new DeviceShardMessageExtractor(),
                        new ExternalShardAllocationStrategy(system, DeviceShardMessageExtractor.TypeName),
                        StopDevice.Instance);
                    registry.Register<DeviceRegion>(region);
                });
        });
        builder.Services.AddHostedService(_ => schema);
        builder.Services.AddSingleton(new RetentionSettings(settings.Retention)).AddHostedService<RetentionService>();
        builder.Services.AddHostedService<IngestService>();
        builder.Services.AddHostedService<CatchUpReporter>();
        foreach (var extra in extras ?? []) extra.Register(builder.Services);

        builder.Services.AddMetricsApi();
        builder.Services.AddHealthChecks()
            .AddCheck<LivenessCheck>("actor-system", tags: ["live"])
            .AddCheck<ReadinessCheck>("ready", tags: ["ready"]);

        var app = builder.Build();
        app.UseMetricsApi();
        app.MapHealthChecks("/health/live", HealthAnswer.For("live"));
        app.MapHealthChecks("/health/ready", HealthAnswer.For("ready"));
        app.MapCollectorMetrics();
        app.MapStatusApi();
        // The live page at `/`: files copied beside the executable, so it is found from any working directory.
        var page = new PhysicalFileProvider(Path.Combine(AppContext.BaseDirectory, "wwwroot"));
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = page });
        app.UseStaticFiles(new StaticFileOptions { FileProvider = page });
        return app;
    }
}

/// <summary>An extra hosted service for a node (the embedded generator), registered by the caller.</summary>
public interface IHostedServiceRegistration
{
    void Register(IServiceCollection services);
}
