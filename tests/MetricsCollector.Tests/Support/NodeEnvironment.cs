namespace MetricsCollector.Tests.Support;

/// <summary>
/// How the tests configure a node, in-process or as its own process: small windows (60 s sliding
/// by 10 s, bound 5 s, lateness 5 s, idle 5 s) so that a stream of a minute exercises every
/// rule, and frequent snapshots so that commits move while it runs.
/// </summary>
public static class NodeEnvironment
{
    public const string TestHocon = """
        metrics-collector.devices { snapshot-interval = 500ms, snapshot-after-events = 500 }
        """;

    public static Dictionary<string, string> For(string bootstrap, string store, string connection) => new()
    {
        ["MC_KAFKA_BOOTSTRAP"] = bootstrap,
        ["MC_WINDOW_SIZE"] = "60s",
        ["MC_WINDOW_SLIDE"] = "10s",
        ["MC_MAX_OUT_OF_ORDERNESS"] = "5s",
        ["MC_ALLOWED_LATENESS"] = "5s",
        ["MC_IDLE_TIMEOUT"] = "5s",
        ["MC_STORE"] = store,
        ["MC_STORE_CONNECTION"] = connection,
        ["MC_HTTP_PORT"] = "0",
        ["MC_CLUSTER_PORT"] = "0",
        ["MC_GENERATOR"] = "off",
    };
}
