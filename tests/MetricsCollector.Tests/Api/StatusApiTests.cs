using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using MetricsCollector.Tests.Support;

namespace MetricsCollector.Tests.Api;

/// <summary>`GET /status` from a live node: what the page's status strip shows.</summary>
[Collection(LiveNodeCollection.Name)]
public sealed class StatusApiTests(LiveNode live)
{
    [Fact]
    public async Task Status_names_this_node_ready_its_cluster_members_and_the_partitions_it_consumes_with_their_watermarks()
    {
        var status = await live.Node.Http.GetFromJsonAsync<JsonElement>("/status");

        Assert.True(status.GetProperty("ready").GetBoolean(), status.ToString());
        Assert.Equal(0, status.GetProperty("notReady").GetArrayLength());
        var member = Assert.Single(status.GetProperty("members").EnumerateArray());
        Assert.Equal(status.GetProperty("node").GetString(), member.GetProperty("address").GetString());
        Assert.Equal("Up", member.GetProperty("status").GetString());
        Assert.True(member.GetProperty("self").GetBoolean() && member.GetProperty("leader").GetBoolean() && member.GetProperty("reachable").GetBoolean());
        var partitions = status.GetProperty("partitions").EnumerateArray().ToList();
        Assert.Equal(Enumerable.Range(0, 10), partitions.Select(p => p.GetProperty("partition").GetInt32()));
        foreach (var partition in partitions)
        {
            // The generator feeds every partition, so each has a watermark, in the API's time format, behind the wall clock.
            var watermark = DateTimeOffset.ParseExact(partition.GetProperty("watermark").GetString()!, "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
            Assert.InRange(watermark, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow);
        }
    }
}
