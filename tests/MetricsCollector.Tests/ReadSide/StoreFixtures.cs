using System.Diagnostics.CodeAnalysis;
using MetricsCollector.ReadSide;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace MetricsCollector.Tests.ReadSide;

/// <summary>A store on a database of its own, created for one test class and removed after it.</summary>
public interface IStoreFixture
{
    SqlResultStore Store { get; }

    bool IsPostgres { get; }

    /// <summary>Empties the tables, so each test starts from nothing while the class keeps one database.</summary>
    Task ResetAsync();

    /// <summary>Refreshes the planner's statistics, as a database in service would have them.</summary>
    Task AnalyzeAsync();

    /// <summary>Runs SQL of the test's own on the store's database.</summary>
    Task ExecuteAsync(string sql);

    /// <summary>The first column of the first row a query of the test's own answers, as a number.</summary>
    Task<long> CountAsync(string sql);
}

[SuppressMessage("Reliability", "CA1001", Justification = "xunit disposes fixtures through IAsyncLifetime.DisposeAsync.")]
public sealed class SqliteStoreFixture : IStoreFixture, IAsyncLifetime
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"mc-store-test-{Guid.NewGuid():N}.db");
    private SqliteResultStore? _store;

    public SqlResultStore Store => _store ?? throw new InvalidOperationException("Fixture not initialized.");

    public bool IsPostgres => false;

    public string ConnectionString => $"Data Source={_path}";

    public async Task InitializeAsync()
    {
        _store = new SqliteResultStore(ConnectionString) { KeepsResultsOutbox = true };
        await _store.EnsureSchemaAsync();
    }

    public Task ResetAsync() => ExecuteAsync("DELETE FROM window_results; DELETE FROM window_parts; DELETE FROM progress; DELETE FROM results_outbox;");

    public Task AnalyzeAsync() => ExecuteAsync("ANALYZE");

    public async Task DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        foreach (var suffix in new[] { "", "-wal", "-shm" })
        {
            File.Delete(_path + suffix);
        }
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var connection = new SqliteConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    public async Task<long> CountAsync(string sql)
    {
        await using var connection = new SqliteConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }
}

[SuppressMessage("Reliability", "CA1001", Justification = "xunit disposes fixtures through IAsyncLifetime.DisposeAsync.")]
public sealed class PostgresStoreFixture : IStoreFixture, IAsyncLifetime
{
    private readonly string _database = $"mc_test_{Guid.NewGuid():N}";
    private readonly string? _server;
    private PostgresResultStore? _store;
    private string? _serverConnectionString;

    /// <summary>On the server MC_TEST_PG names (xunit wants one public constructor without arguments).</summary>
    public PostgresStoreFixture() { }

    /// <param name="server">A server of the test's own.</param>
    internal PostgresStoreFixture(string server) => _server = server;

    public SqlResultStore Store => _store ?? throw new InvalidOperationException("Fixture not initialized.");

    public bool IsPostgres => true;

    /// <summary>The server under test. Failing, not skipping, without it: a silently skipped backend is an untested one.</summary>
    public static string ServerConnectionString =>
        Environment.GetEnvironmentVariable("MC_TEST_PG") is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                "MC_TEST_PG is not set, so the PostgreSQL store tests cannot run. Start a server and set it with: "
                + "bash deploy/local-postgres.sh start && eval \"$(bash deploy/local-postgres.sh env)\"");

    public string DatabaseConnectionString =>
        new NpgsqlConnectionStringBuilder(_serverConnectionString) { Database = _database }.ToString();

    public async Task InitializeAsync()
    {
        _serverConnectionString = _server ?? ServerConnectionString;
        await ExecuteOnServerAsync($"CREATE DATABASE {_database}");
        _store = new PostgresResultStore(DatabaseConnectionString) { KeepsResultsOutbox = true };
        await _store.EnsureSchemaAsync();
    }

    public Task ResetAsync() => ExecuteAsync("TRUNCATE window_results, window_parts, progress, results_outbox");

    public Task AnalyzeAsync() => ExecuteAsync("ANALYZE");

    public async Task DisposeAsync()
    {
        if (_store is null)
        {
            return;
        }

        await _store.DisposeAsync();
        await ExecuteOnServerAsync($"DROP DATABASE IF EXISTS {_database} WITH (FORCE)");
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(DatabaseConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public async Task<long> CountAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(DatabaseConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private async Task ExecuteOnServerAsync(string sql)
    {
        // Unpooled: a pooled connection would keep a session open that DROP DATABASE has to force out.
        var builder = new NpgsqlConnectionStringBuilder(_serverConnectionString) { Pooling = false };
        await using var connection = new NpgsqlConnection(builder.ToString());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
