using System.Data.Common;
using Npgsql;

namespace MetricsCollector.ReadSide;

/// <summary>
/// Caps a node's PostgreSQL connections. Npgsql lets a pool grow to 100, and a node has two pools
/// (the persistence plugins through linq2db, the read side through its data source). A node that
/// starts or takes over hundreds of devices saves their snapshots at about the same moment, so
/// three nodes could ask for 600 connections; PostgreSQL refuses beyond max_connections (100 by
/// default) with "too many clients", and the persistence circuit breaker then fails every
/// device's recovery and snapshot on that node. With these caps a node holds at most 24
/// connections, and requests beyond them wait in the pool for a free one.
/// </summary>
public static class PostgresPool
{
    public const int Persistence = 16;
    public const int ReadSide = 8;

    /// <summary>The connection string with <paramref name="maxPoolSize"/> unless it sets a pool size of its own.</summary>
    public static string Limit(string connectionString, int maxPoolSize)
    {
        // Npgsql accepts two spellings of the key; the generic builder only parses, it knows neither.
        var given = new DbConnectionStringBuilder { ConnectionString = connectionString };
        var setsOwn = given.Keys.Cast<string>()
            .Select(k => k.Replace(" ", "", StringComparison.Ordinal).ToUpperInvariant())
            .Any(k => k is "MAXIMUMPOOLSIZE" or "MAXPOOLSIZE");
        return setsOwn ? connectionString : new NpgsqlConnectionStringBuilder(connectionString) { MaxPoolSize = maxPoolSize }.ConnectionString;
    }
}
