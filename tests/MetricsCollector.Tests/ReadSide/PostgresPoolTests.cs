using MetricsCollector.ReadSide;
using Npgsql;

namespace MetricsCollector.Tests.ReadSide;

public class PostgresPoolTests
{
    [Fact]
    public void A_connection_string_without_a_pool_size_gets_the_cap()
    {
        var limited = new NpgsqlConnectionStringBuilder(PostgresPool.Limit("Host=db;Username=mc;Database=metrics", 16));
        Assert.Equal(16, limited.MaxPoolSize);
        Assert.Equal("db", limited.Host);
        Assert.Equal("metrics", limited.Database);
    }

    [Theory]
    [InlineData("Host=db;Maximum Pool Size=50")]
    [InlineData("host=db;maxpoolsize=50")]
    public void A_pool_size_the_operator_set_is_kept(string connectionString) =>
        Assert.Equal(50, new NpgsqlConnectionStringBuilder(PostgresPool.Limit(connectionString, 16)).MaxPoolSize);
}
