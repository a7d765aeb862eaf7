using System.CommandLine;
using Akka.Actor;
using Akka.Configuration;
using MetricsCollector.Configuration;
using MetricsCollector.Hosting;
using MetricsCollector.Kafka;

namespace MetricsCollector.Commands;

/// <summary>`metrics-collector run`: start a node; with no bootstrap servers, in embedded mode.</summary>
public static class RunCommand
{
    public static Command Create()
    {
        var config = new Option<FileInfo?>("--config") { Description = "Extra HOCON file over the defaults (MC_* variables still win); its akka { } section goes to Akka." };
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Log at info: Akka's start-up and cluster events too (MC_LOG_LEVEL=info)." };
        var command = new Command("run", "Start a node (the default). Without MC_KAFKA_BOOTSTRAP it starts an in-process broker, a SQLite store under ./data and the generator.")
        {
            config,
            verbose,
        };
        command.SetAction((parse, ct) =>
        {
            var settings = CollectorSettings.Load(parse.GetValue(config)?.FullName);
            // -v asks for at least info; MC_LOG_LEVEL=debug stays debug.
            if (parse.GetValue(verbose) && settings.LogLevel > LogLevel.Information) settings = settings with { LogLevel = LogLevel.Information };
            return RunAsync(settings, ct);
        });
        return command;
    }

    public static async Task<int> RunAsync(CollectorSettings settings, CancellationToken ct)
    {
        EmbeddedKafka? broker = null;
        try
        {
            var bootstrap = settings.KafkaBootstrap;
            if (settings.Embedded)
            {
                broker = EmbeddedKafka.Start();
                ProductTopics.Create(broker, settings.Partitions, settings.Topic, settings.TooLateTopic, settings.DeadLetterTopic, settings.ResultsTopic);
                bootstrap = broker.BootstrapServers;
                EnsureSqliteDirectory(settings);
            }

            var extras = new List<IHostedServiceRegistration>();
            if (settings.GeneratorEnabled) extras.Add(new GeneratorService.Registration(bootstrap, settings));
            await using var app = NodeHost.Build(settings, bootstrap, extras);
            var system = StartActorSystem(app);
            try
            {
                await app.StartAsync(ct);
                PrintBanner(settings, bootstrap);
                await app.WaitForShutdownAsync(ct);
            }
            catch (OperationCanceledException) when (app.Lifetime.ApplicationStopping.IsCancellationRequested || ct.IsCancellationRequested)
            {
                // Stopped while still starting (waiting to join the cluster, say): by Ctrl+C or
                // SIGTERM, or because the actor system stopped, which ExitCode tells apart.
                await app.StopAsync(CancellationToken.None);
            }
            return ExitCode(system);
        }
        finally
        {
            broker?.Dispose();
        }
    }

    /// <summary>
    /// Starts the actor system ahead of the host, which would otherwise report a failure to start
    /// it as a host failure with every stack trace: Akka reads most of its configuration then, so
    /// a bad value in the akka { } section stops the node with one line like any other bad value.
    /// </summary>
    private static ActorSystem StartActorSystem(WebApplication app)
    {
        try
        {
            return app.Services.GetRequiredService<ActorSystem>();
        }
        catch (Exception e)
        {
            var cause = e;
            while (cause.InnerException is { } inner) cause = inner;
            throw new ConfigurationException($"akka: the actor system did not start: {cause.Message}", e);
        }
    }

    /// <summary>
    /// 0 when the node was asked to stop; Akka's own code when its actor system stopped by itself
    /// (3: downed by the split-brain resolver, 79: a TLS handshake failed), so that a supervisor
    /// that restarts failed processes restarts it.
    /// </summary>
    private static int ExitCode(ActorSystem system)
    {
        var reason = CoordinatedShutdown.Get(system).ShutdownReason;
        if (reason is null || reason.ExitCode == 0) return 0;
        Console.Error.WriteLine($"metrics-collector: the actor system stopped by itself ({reason.GetType().Name}); exit code {reason.ExitCode}");
        return reason.ExitCode;
    }

    private static void EnsureSqliteDirectory(CollectorSettings settings)
    {
        if (settings.StoreProvider != "sqlite") return;
        var builder = new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(settings.StoreConnection);
        var directory = Path.GetDirectoryName(Path.GetFullPath(builder.DataSource));
        if (!string.IsNullOrEmpty(directory)) Directory.CreateDirectory(directory);
    }

    /// <summary>The store's connection string for the banner: stdout often ends up in logs others read.</summary>
    private static string WithoutPassword(CollectorSettings settings)
    {
        if (settings.StoreProvider != "postgresql") return settings.StoreConnection;
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(settings.StoreConnection);
        builder.Remove("Password");
        return builder.ConnectionString;
    }

    private static void PrintBanner(CollectorSettings settings, string bootstrap)
    {
        var api = settings.HttpLocalUrl;
        Console.WriteLine($"""

            MetricsCollector is running{(settings.Embedded ? " in embedded mode" : "")}.
              Kafka bootstrap : {bootstrap}{(settings.Embedded ? "  (in-process broker, memory only)" : "")}
              Input topic     : {settings.Topic}
              Store           : {settings.StoreProvider} ({WithoutPassword(settings)})
              REST API        : {api}
              Generator       : {(settings.GeneratorEnabled ? $"on, {settings.Generator.Devices} devices at {settings.Generator.Rate}/s" : "off")}
              Windows         : {TimeSpan.FromMilliseconds(settings.Windows.Spec.Size)} sliding by {TimeSpan.FromMilliseconds(settings.Windows.Spec.Slide)}

            Try:
              curl -s {api}/metrics/top/10
              curl -s {api}/metrics/devices/device-1
              curl -s '{api}/metrics/devices/device-1/history?limit=5'
              curl -s {api}/health/ready
              curl -s {api}/metrics
            Stop with Ctrl+C.
            """);
    }
}
