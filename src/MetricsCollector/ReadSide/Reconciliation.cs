using Confluent.Kafka;
using MetricsCollector.Core.Events;
using MetricsCollector.Core.Reconciliation;
using MetricsCollector.Core.Windows;
using MetricsCollector.Kafka;

namespace MetricsCollector.ReadSide;

/// <summary>
/// Folds too-late events of an event-time range into the closed windows they belong to
/// (<see cref="ReconciledParts"/>). Reads every partition of the too-late topic, one after the other in offset
/// order, up to the end each had when the run started, and applies its records in batches: each batch's parts
/// and the partition's <see cref="ReconcileLedger"/> go to the store in one transaction, so a run killed
/// midway leaves a consistent prefix that the next run continues from, and no record counts twice.
/// Partition by partition in offset order, so the same records make the same batches and the same digests.
/// Runs are meant one at a time: two at once over one window would both read its reconciled part as it was.
/// </summary>
public sealed class Reconciliation(IResultStore store, KafkaClients clients, Reconciliation.Options options, TimeProvider clock)
{
    private static readonly TimeSpan MetadataTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Called after each batch is committed, with what it applied: progress for the operator.</summary>
    public Func<ReconcileBatch, CancellationToken, Task>? BatchApplied { get; init; }

    public async Task<ReconcileOutcome> RunAsync(long from, long to, CancellationToken ct)
    {
        if (from >= to) throw new ArgumentException($"the range [{from}, {to}) is empty", nameof(from));
        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig(clients.Consumer(options.GroupId + "-reconcile"))
        {
            EnableAutoCommit = false,
            EnablePartitionEof = true,
        }).Build();
        // The ends as of the start: what the node appends meanwhile waits for the next run.
        var ends = Partitions().Select(p =>
        {
            var partition = new TopicPartition(options.TooLateTopic, p);
            var offsets = consumer.QueryWatermarkOffsets(partition, MetadataTimeout);
            return (Partition: partition, Low: offsets.Low.Value, High: offsets.High.Value);
        }).ToList();

        var tally = new ReconcileOutcome();
        foreach (var (partition, low, high) in ends)
        {
            if (high > low)
            {
                tally = await PartitionAsync(consumer, partition, low, high, from, to, tally, ct);
            }
        }

        return tally;
    }

    public static string ProgressKey(string groupId, string topic, int partition) => $"reconcile|{groupId}|{topic}|{partition}";

    private List<int> Partitions()
    {
        using var admin = new AdminClientBuilder(clients.Admin()).Build();
        var topic = admin.GetMetadata(options.TooLateTopic, MetadataTimeout).Topics.Single();
        if (topic.Error.IsError) throw new InvalidOperationException($"the too-late topic {options.TooLateTopic}: {topic.Error.Reason}");
        return topic.Partitions.Select(p => p.PartitionId).Order().ToList();
    }

    private async Task<ReconcileOutcome> PartitionAsync(
        IConsumer<byte[], byte[]> consumer, TopicPartition partition, long low, long high, long from, long to, ReconcileOutcome tally, CancellationToken ct)
    {
        var key = ProgressKey(options.GroupId, partition.Topic, partition.Partition.Value);
        var ledger = ReconcileLedger.Parse(await store.LoadProgressAsync(key, ct));
        var decoder = new EventDecoder();
        var events = new List<CpuEvent>();
        var (next, read) = (low, 0);
        consumer.Assign(new TopicPartitionOffset(partition, low));
        try
        {
            while (next < high)
            {
                var record = consumer.Consume(ct);
                if (record.IsPartitionEOF)
                {
                    // The log ends short of the end it reported (a transaction's marker last, or cut meanwhile): nothing more to read.
                    if (record.Offset.Value >= next) break;
                    continue;
                }

                (next, read) = (record.Offset.Value + 1, read + 1);
                tally = tally with { Read = tally.Read + 1 };
                if (!decoder.TryDecode(record.Message.Value, out var evt, out _))
                {
                    // A value cut to fit the too-late topic no longer decodes: its event cannot be recovered.
                    tally = tally with { Undecodable = tally.Undecodable + 1 };
                }
                else if (evt.Timestamp < from || evt.Timestamp >= to)
                {
                    tally = tally with { OutOfRange = tally.OutOfRange + 1 };
                }
                else if (ledger.Applied(record.Offset.Value, evt.Timestamp))
                {
                    tally = tally with { AlreadyApplied = tally.AlreadyApplied + 1 };
                }
                else
                {
                    events.Add(evt);
                }

                if (read == options.BatchSize) await CommitBatchAsync();
            }

            // However the log ended, what was read is applied and in the ledger.
            if (read > 0) await CommitBatchAsync();
        }
        finally
        {
            consumer.Unassign();
        }

        return tally;

        async Task CommitBatchAsync()
        {
            ledger = ledger.With(from, to, next);
            var parts = await ApplyAsync(events, key, ledger, ct);
            tally = tally with { Applied = tally.Applied + events.Count, Parts = tally.Parts + parts };
            if (BatchApplied is { } applied) await applied(new ReconcileBatch(partition.Partition.Value, next, events.Count, parts), ct);
            (events, read) = ([], 0);
        }
    }

    private async Task<int> ApplyAsync(List<CpuEvent> events, string key, ReconcileLedger ledger, CancellationToken ct)
    {
        var windows = ReconciledParts.WindowsOf(options.Windows.Spec, events);
        var stored = (await store.PartsAsync(windows, ReconciledParts.Partition, ct)).ToDictionary(p => (p.Row.DeviceId, p.Row.WindowEnd));
        var parts = ReconciledParts.Fold(options.Windows, events, stored, clock.GetUtcNow().ToUnixTimeMilliseconds());
        await store.UpsertAsync(parts, [new(key, ledger.ToString())], ct);
        return parts.Count;
    }

    /// <summary>What a run needs of the node's settings, and how many records make a batch.</summary>
    public sealed record Options(string TooLateTopic, string GroupId, WindowSettings Windows, int BatchSize);
}

/// <summary>One committed batch: its too-late partition, the next offset to read there, events applied and parts written.</summary>
public readonly record struct ReconcileBatch(int Partition, long NextOffset, int Events, int Parts);

/// <summary>
/// What a run did: records read; events applied; records skipped as applied by an earlier run, as outside the
/// range, or as values that do not decode; parts written (one per window per batch).
/// </summary>
public sealed record ReconcileOutcome(long Read = 0, long Applied = 0, long AlreadyApplied = 0, long OutOfRange = 0, long Undecodable = 0, long Parts = 0);
