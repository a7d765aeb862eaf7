using System.Text;
using System.Text.Json;
using MetricsCollector.Kafka;
using MetricsCollector.ReadSide;
using MetricsCollector.Testing;
using static MetricsCollector.Tests.EndToEnd.PipelineEndToEndTests;

namespace MetricsCollector.Tests.Support;

/// <summary>
/// The results topic against the store: read back, reduced to the highest (revision, final) record per key,
/// it must hold exactly the stored rows as the API serves them, byte for byte, and no record may say final
/// with anything but the stored final row.
/// </summary>
public static class ResultsTopicCheck
{
    /// <summary>
    /// Waits (the last finality may take a sweep) until the topic equals the served rows of the oracle's windows.
    /// With <paramref name="reconciled"/>, final rows have been revised by reconciliation since they were produced,
    /// so an earlier final record of a key may differ from the stored row: only the highest revision is checked.
    /// </summary>
    public static async Task AssertEqualsStoredRowsAsync(string bootstrap, IResultStore store, ExactWindowOracle oracle, TimeSpan timeout, bool reconciled = false)
    {
        var expected = new Dictionary<string, string>();
        foreach (var device in oracle.Windows.Keys.Select(k => k.Device).Distinct())
            foreach (var row in (await store.HistoryAsync(device, null, null, 1000, null)).Items)
                expected[ResultsTopicActor.KeyOf(row)] = Encoding.UTF8.GetString(ResultsTopicActor.ValueOf(row));

        Dictionary<string, List<string>> records = new();
        try
        {
            await WaitUntilAsync(() =>
            {
                records = KafkaOracle.ReadAll(bootstrap, ProductTopics.Results)
                    .GroupBy(r => Encoding.UTF8.GetString(r.Message.Key))
                    .ToDictionary(g => g.Key, g => g.Select(r => Encoding.UTF8.GetString(r.Message.Value)).ToList());
                return Task.FromResult(records.Count == expected.Count && records.All(r => expected.TryGetValue(r.Key, out var row) && Highest(r.Value) == row));
            }, timeout);
        }
        catch (TimeoutException e)
        {
            var wrong = expected.Where(x => !records.TryGetValue(x.Key, out var got) || Highest(got) != x.Value).Take(3)
                .Select(x => $"{x.Key}: stored {x.Value}, topic {(records.TryGetValue(x.Key, out var got) ? Highest(got) : "nothing")}");
            throw new TimeoutException($"{e.Message}: {records.Count} keys on the topic, {expected.Count} rows stored; e.g. {string.Join("; ", wrong)}", e);
        }

        // Final means final on the topic too: every record that says final is the stored final row.
        if (reconciled) return;
        foreach (var (key, values) in records)
            foreach (var value in values.Where(v => JsonDocument.Parse(v).RootElement.GetProperty("final").GetBoolean()))
                Assert.Equal(expected[key], value);
    }

    private static string Highest(List<string> values) =>
        values.MaxBy(v =>
        {
            var row = JsonDocument.Parse(v).RootElement;
            return (row.GetProperty("revision").GetInt32(), row.GetProperty("final").GetBoolean() ? 1 : 0);
        })!;
}
