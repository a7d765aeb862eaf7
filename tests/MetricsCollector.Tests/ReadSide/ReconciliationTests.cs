using System.Text;
using Confluent.Kafka;
using MetricsCollector.Core.Windows;
using MetricsCollector.Kafka;
using MetricsCollector.ReadSide;
using MetricsCollector.Tests.Support;

namespace MetricsCollector.Tests.ReadSide;

public sealed class ReconciliationTests : BrokerTest
{
    private const string Topic = "too-late-short";
    private static readonly WindowSettings Windows = new(new WindowSpec(60_000, 10_000), allowedLatenessMs: 5_000);

    /// <summary>
    /// A transaction's commit marker takes the last offset of the log, and a consumer never sees it: the
    /// log ends, for a reader, one short of the end the broker reports. The batch read when it ends must
    /// be applied and entered in the ledger like any other.
    /// </summary>
    [Fact]
    public async Task A_log_that_ends_short_of_its_reported_end_applies_and_records_its_last_batch()
    {
        Kafka.CreateTopic(Topic, 1);
        using (var producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig
               {
                   BootstrapServers = Kafka.BootstrapServers,
                   TransactionalId = "reconcile-test",
               }).Build())
        {
            producer.InitTransactions(TimeSpan.FromSeconds(30));
            producer.BeginTransaction();
            foreach (var time in new[] { 1_000L, 2_000, 3_000 })
            {
                var value = Encoding.UTF8.GetBytes($$"""{"deviceId":"d","timestamp":{{time}},"cpuUsage":{{time / 100}}}""");
                await producer.ProduceAsync(new TopicPartition(Topic, 0), new Message<byte[]?, byte[]?> { Value = value });
            }

            producer.CommitTransaction(TimeSpan.FromSeconds(30));
        }

        await using var store = new SqliteResultStore($"Data Source={Path.Combine(Dir, "results.db")}");
        await store.EnsureSchemaAsync();
        var reconcile = new Reconciliation(store, new KafkaClients(Kafka.BootstrapServers), new Reconciliation.Options(Topic, "g", Windows, BatchSize: 10), TimeProvider.System);

        var first = await reconcile.RunAsync(0, 10_000, CancellationToken.None);
        var again = await reconcile.RunAsync(0, 10_000, CancellationToken.None);

        Assert.Equal((3L, 3L), (first.Read, first.Applied));
        Assert.Equal((0L, 3L), (again.Applied, again.AlreadyApplied));
        var row = Assert.Single((await store.HistoryAsync("d", 10_000, 10_000, 10, null)).Items);
        Assert.Equal(3, row.Count);
    }
}
