using Akka.Actor;
using Akka.Hosting;
using MetricsCollector.Api;
using MetricsCollector.Configuration;
using MetricsCollector.Core.Windows;

namespace MetricsCollector.ReadSide;

// The top-N singleton's protocol, every message and both ends' entry points in one place. Who sends
// what: each partition actor its watermark, each node's ingest the topic's partition count, each node's
// result writer the rows it stored; the API asks through TopNClient. The singleton is TopNActor.

/// <summary>Registry key for the proxy to the top-N cluster singleton.</summary>
public sealed class TopNProxy;

/// <summary>Partition → top-N: the partition's watermark, so that it knows which windows fired everywhere.</summary>
public sealed record PartitionWatermark(int Partition, long Watermark);

/// <summary>Node → top-N: the input topic's partition count as the broker reports it.</summary>
public sealed record TopicPartitions(int Count);

/// <summary>Result writer → top-N (and the node's results-topic producer): rows now in the store.</summary>
public sealed record RowsPublished(IReadOnlyList<WindowResult> Rows);

/// <summary>API → top-N: the <see cref="N"/> highest rows by <see cref="By"/> of the latest window fired everywhere.</summary>
public sealed record GetTopN(int N, RankBy By);

/// <summary>Top-N → API: the answer to <see cref="GetTopN"/>.</summary>
public sealed record TopNAnswer(IReadOnlyList<WindowResult> Rows);

/// <summary>The API's view of the top-N singleton, through its proxy.</summary>
internal sealed class TopNClient(ActorRegistry registry, CollectorSettings settings) : ILatestTopN
{
    public async Task<IReadOnlyList<WindowResult>> TopAsync(int n, RankBy by, CancellationToken ct)
    {
        var proxy = await registry.GetAsync<TopNProxy>(ct);
        try
        {
            var answer = await proxy.Ask<TopNAnswer>(new GetTopN(n, by), settings.TopNTimeout, ct);
            return answer.Rows;
        }
        catch (AskTimeoutException e)
        {
            // The API answers 503 for a TimeoutException: the singleton is moving or its node is down.
            throw new TimeoutException($"the top-N singleton did not answer within {settings.TopNTimeout.TotalSeconds:0.###} s", e);
        }
    }
}
