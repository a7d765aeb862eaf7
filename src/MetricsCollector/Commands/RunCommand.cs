using System.CommandLine;
using MetricsCollector.Configuration;
using MetricsCollector.Hosting;
using MetricsCollector.Kafka;

namespace MetricsCollector.Commands;

/// <summary>`metrics-collector run`: start a node; with no bootstrap servers, in embedded mode.</summary>
public static class RunCommand
{
    public static Command Create()
    {
        var config = new Option<FileInfo?>("--config") { Description = "Extra HOCON file over the defaults (MC_* variables still win)." };
        var command = new Command("run", "Start a node (the default). Without MC_KAFKA_BOOTSTRAP it starts an in-process broker, a SQLite store under ./data and the generator.")
        {
            config,
        };
        command.SetAction((parse, ct) => RunAsync(CollectorSettings.Load(parse.GetValue(config)?.FullName), ct));
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
                ProductTopics.Create(broker, settings.Partitions, settings.Topic, settings.TooLateTopic, settings.DeadLetterTopic);
                bootstrap = broker.BootstrapServers;
                EnsureSqliteDirectory(settings);
            }

            var extras = new List<IHostedServiceRegistration>();
            if (settings.GeneratorEnabled) extras.Add(new GeneratorService.Registration(bootstrap, settings));
            await using var app = NodeHost.Build(settings, bootstrap, extras);
            await app.StartAsync(ct);
            PrintBanner(settings, bootstrap);
            await app.WaitForShutdownAsync(ct);
            return 0;
        }
        finally
        {
            broker?.Dispose();
        }
    }

    private static void EnsureSqliteDirectory(CollectorSettings settings)
    {
        if (settings.StoreProvider != "sqlite") return;
        var builder = new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(settings.StoreConnection);
        var directory = Path.GetDirectoryName(Path.GetFullPath(builder.DataSource));
        if (!string.IsNullOrEmpty(directory)) Directory.CreateDirectory(directory);
    }

    private static void PrintBanner(CollectorSettings settings, string bootstrap)
    {
        var api = $"http://127.0.0.1:{settings.HttpPort}";
        Console.WriteLine($"""

            MetricsCollector is running{(settings.Embedded ? " in embedded mode" : "")}.
              Kafka bootstrap : {bootstrap}{(settings.Embedded ? "  (in-process broker, memory only)" : "")}
              Input topic     : {settings.Topic}
              Store           : {settings.StoreProvider} ({settings.StoreConnection})
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
