using MetricsCollector.Configuration;

namespace MetricsCollector.ReadSide;

public static class ResultStoreFactory
{
    /// <summary>
    /// The store named by configuration (<c>MC_STORE</c>): <c>sqlite</c> or <c>postgresql</c>; with
    /// <paramref name="resultsOutbox"/> when a results topic is on (<see cref="SqlResultStore.KeepsResultsOutbox"/>);
    /// <paramref name="fillFactor"/> is PostgreSQL's (<see cref="PostgresResultStore(string, int)"/>), <paramref name="sqlite"/> SQLite's.
    /// </summary>
    public static IResultStore Create(string kind, string connectionString, bool resultsOutbox = false, int fillFactor = 100, SqliteSettings? sqlite = null) => kind.Trim().ToUpperInvariant() switch
    {
        "SQLITE" => new SqliteResultStore(connectionString, sqlite) { KeepsResultsOutbox = resultsOutbox },
        "POSTGRESQL" or "POSTGRES" => new PostgresResultStore(PostgresPool.Limit(connectionString, PostgresPool.ReadSide), fillFactor) { KeepsResultsOutbox = resultsOutbox },
        _ => throw new ArgumentException($"Unknown store '{kind}': expected sqlite or postgresql.", nameof(kind)),
    };
}
