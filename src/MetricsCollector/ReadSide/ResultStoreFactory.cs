namespace MetricsCollector.ReadSide;

public static class ResultStoreFactory
{
    /// <summary>The store named by configuration (<c>MC_STORE</c>): <c>sqlite</c> or <c>postgresql</c>.</summary>
    public static IResultStore Create(string kind, string connectionString) => kind.Trim().ToUpperInvariant() switch
    {
        "SQLITE" => new SqliteResultStore(connectionString),
        "POSTGRESQL" or "POSTGRES" => new PostgresResultStore(PostgresPool.Limit(connectionString, PostgresPool.ReadSide)),
        _ => throw new ArgumentException($"Unknown store '{kind}': expected sqlite or postgresql.", nameof(kind)),
    };
}
