using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using MetricsCollector.Configuration;
using MetricsCollector.Core.Events;
using MetricsCollector.Kafka;
using MetricsCollector.ReadSide;

namespace MetricsCollector.Commands;

/// <summary>
/// `metrics-collector reconcile`: folds the too-late events of an event-time range into their closed windows
/// as new revisions (<see cref="Reconciliation"/>), against the store and topics a node of the same settings uses.
/// </summary>
public static class ReconcileCommand
{
    public static Command Create()
    {
        var from = Time("--from", "Start of the event-time range, included: an ISO 8601 time (2025-11-28T05:00:00Z) or epoch milliseconds.");
        var to = Time("--to", "End of the event-time range, excluded: an ISO 8601 time or epoch milliseconds.");
        var bootstrap = new Option<string?>("--bootstrap") { Description = "Kafka bootstrap servers; default MC_KAFKA_BOOTSTRAP." };
        var batch = new Option<int>("--batch-size")
        {
            Description = "Too-late records per transaction: a run stopped midway keeps what its committed batches applied.",
            DefaultValueFactory = _ => 1_000,
        };
        batch.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 1) r.AddError("--batch-size must be at least 1");
        });
        var config = new Option<FileInfo?>("--config") { Description = "Extra HOCON file over the defaults, as for `run` (MC_* variables still win)." };
        var command = new Command("reconcile", "Fold the too-late events of an event-time range into their closed windows as new revisions; each event once, however often it runs.")
        {
            from,
            to,
            bootstrap,
            batch,
            config,
        };
        command.SetAction(async (parse, ct) =>
        {
            var (start, end) = (parse.GetValue(from), parse.GetValue(to));
            if (start >= end)
            {
                Console.Error.WriteLine($"metrics-collector: --from must be before --to, got [{Iso(start)}, {Iso(end)})");
                return 2;
            }

            var settings = CollectorSettings.Load(parse.GetValue(config)?.FullName);
            var servers = parse.GetValue(bootstrap) ?? settings.KafkaBootstrap;
            if (string.IsNullOrWhiteSpace(servers))
            {
                // The embedded broker lives in memory inside a node: there is no too-late topic to read after it.
                Console.Error.WriteLine("metrics-collector: reconcile needs a Kafka cluster: set MC_KAFKA_BOOTSTRAP or --bootstrap");
                return 2;
            }

            await using var store = ResultStoreFactory.Create(settings.StoreProvider, settings.StoreConnection, resultsOutbox: settings.ResultsTopic is not null, settings.StoreFillFactor, settings.StoreSqlite);
            await store.EnsureSchemaAsync(ct);
            var reconciliation = new Reconciliation(
                store,
                new KafkaClients(servers, settings.KafkaClientProperties),
                new Reconciliation.Options(settings.TooLateTopic, settings.GroupId, settings.Windows, parse.GetValue(batch)),
                TimeProvider.System);
            Console.WriteLine($"Reconciling too-late events of [{Iso(start)}, {Iso(end)}) from {settings.TooLateTopic} into {settings.StoreProvider}");
            var outcome = await reconciliation.RunAsync(start, end, ct);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Read {outcome.Read} records: applied {outcome.Applied} events ({outcome.Parts} window parts written), skipped {outcome.AlreadyApplied} applied before, {outcome.OutOfRange} outside the range, {outcome.Undecodable} that do not decode"));
            return 0;
        });
        return command;
    }

    /// <summary>An ISO 8601 time (offset or Z; none means UTC) or whole epoch milliseconds.</summary>
    public static bool TryParseTime(string text, out long epochMs)
    {
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out epochMs)) return epochMs <= EventDecoder.MaxTimestamp;
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time) && text.Contains('T', StringComparison.Ordinal))
        {
            epochMs = time.ToUnixTimeMilliseconds();
            return true;
        }

        epochMs = 0;
        return false;
    }

    private static Option<long> Time(string name, string description) => new(name)
    {
        Description = description,
        Required = true,
        CustomParser = r =>
        {
            var text = r.Tokens.Single().Value;
            if (TryParseTime(text, out var epochMs)) return epochMs;
            r.AddError($"{name} takes an ISO 8601 time such as 2025-11-28T05:00:00Z or epoch milliseconds, got '{text}'");
            return 0;
        },
    };

    private static string Iso(long epochMs) =>
        DateTimeOffset.FromUnixTimeMilliseconds(epochMs).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
