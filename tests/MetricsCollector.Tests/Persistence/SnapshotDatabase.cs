using System.Buffers.Binary;
using System.Data.Common;
using Akka.Configuration;
using MetricsCollector.Configuration;
using MetricsCollector.Tests.ReadSide;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace MetricsCollector.Tests.Persistence;

/// <summary>A database of a test's own for the snapshot store, removed afterwards: a SQLite file, or a database on a PostgreSQL server.</summary>
public abstract class SnapshotDatabase : IAsyncDisposable
{
    public abstract string Provider { get; }

    public abstract string ConnectionString { get; }

    /// <summary>Akka.Persistence.Sql's name for this kind of database.</summary>
    public abstract string LegacyProviderName { get; }

    /// <param name="server">A PostgreSQL server of the test's own; by default the one MC_TEST_PG names.</param>
    public static async Task<SnapshotDatabase> CreateAsync(string provider, string? server = null)
    {
        if (provider == "sqlite") return new Sqlite();
        var postgres = new Postgres(server ?? PostgresStoreFixture.ServerConnectionString);
        await postgres.CreateAsync();
        return postgres;
    }

    /// <summary>
    /// A node's persistence section exactly as it runs (hocon/akka.conf, filled in from the settings by
    /// <see cref="AkkaConfiguration"/>) on this database, under <paramref name="hocon"/>.
    /// </summary>
    public Config NodeConfig(string hocon = "")
    {
        var settings = CollectorSettings.Load(null, new Dictionary<string, string> { ["MC_STORE"] = Provider, ["MC_STORE_CONNECTION"] = ConnectionString });
        var persistence = AkkaConfiguration.For(settings).GetValue("akka.persistence").AtKey("persistence").Root.AtKey("akka");
        return ConfigurationFactory.ParseString(hocon).WithFallback(persistence);
    }

    public async Task<long> CountAsync(string sql)
    {
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Starts counting the transactions that write to the snapshot table (which must exist); the answer counts them so far.</summary>
    public abstract Task<Func<Task<long>>> CountWritesAsync();

    public abstract ValueTask DisposeAsync();

    protected abstract Task<DbConnection> OpenAsync();

    private sealed class Sqlite : SnapshotDatabase
    {
        private readonly string _path = Path.Combine(Path.GetTempPath(), $"mc-snapshots-{Guid.NewGuid():N}.db");

        public override string Provider => "sqlite";

        public override string ConnectionString => $"Data Source={_path}";

        public override string LegacyProviderName => "SQLite.MS";

        /// <summary>
        /// From the write-ahead log: every commit ends with a frame whose header holds the database's size
        /// (other frames hold 0), and frames left from before the log last started over carry other salts.
        /// The log starts over after a checkpoint, which SQLite runs past 1,000 pages: a count across one
        /// fails rather than counting short, and so do saves written a transaction each.
        /// </summary>
        public override Task<Func<Task<long>>> CountWritesAsync()
        {
            var (generation, before) = ReadLog();
            return Task.FromResult<Func<Task<long>>>(() =>
            {
                var (now, commits) = ReadLog();
                if (now != generation) throw new InvalidOperationException("SQLite's write-ahead log started over (a checkpoint after 1,000 pages): too many pages written to count the transactions");
                return Task.FromResult((long)(commits - before));
            });
        }

        public override ValueTask DisposeAsync()
        {
            SqliteConnection.ClearAllPools();
            foreach (var suffix in new[] { "", "-wal", "-shm" }) File.Delete(_path + suffix);
            return ValueTask.CompletedTask;
        }

        protected override async Task<DbConnection> OpenAsync()
        {
            var connection = new SqliteConnection(ConnectionString);
            await connection.OpenAsync();
            return connection;
        }

        private (uint Generation, int Commits) ReadLog()
        {
            byte[] log;
            using (var file = new FileStream(_path + "-wal", FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
            {
                log = new byte[file.Length];
                file.ReadExactly(log);
            }
            var pageSize = (int)BinaryPrimitives.ReadUInt32BigEndian(log.AsSpan(8));
            var generation = BinaryPrimitives.ReadUInt32BigEndian(log.AsSpan(12));
            var salts = log.AsSpan(16, 8).ToArray();
            var commits = 0;
            for (var at = 32; at + 24 + pageSize <= log.Length; at += 24 + pageSize)
            {
                if (!log.AsSpan(at + 8, 8).SequenceEqual(salts)) break;
                if (BinaryPrimitives.ReadUInt32BigEndian(log.AsSpan(at + 4)) != 0) commits++;
            }
            return (generation, commits);
        }
    }

    private sealed class Postgres(string server) : SnapshotDatabase
    {
        private readonly string _database = $"mc_snapshots_{Guid.NewGuid():N}";

        public override string Provider => "postgresql";

        public override string ConnectionString => new NpgsqlConnectionStringBuilder(server) { Database = _database }.ToString();

        public override string LegacyProviderName => "PostgreSQL.15";

        public Task CreateAsync() => OnServerAsync($"CREATE DATABASE {_database}");

        /// <summary>A statement trigger notes the id of every transaction that writes the table.</summary>
        public override async Task<Func<Task<long>>> CountWritesAsync()
        {
            await ExecuteAsync("""
                CREATE TABLE writing_transactions (id bigint PRIMARY KEY);
                CREATE FUNCTION note_writing_transaction() RETURNS trigger LANGUAGE plpgsql AS $$
                  BEGIN INSERT INTO writing_transactions VALUES (txid_current()) ON CONFLICT DO NOTHING; RETURN NULL; END $$;
                CREATE TRIGGER note_writing_transaction AFTER INSERT OR UPDATE ON latest_snapshots
                  FOR EACH STATEMENT EXECUTE FUNCTION note_writing_transaction();
                """);
            return () => CountAsync("SELECT count(*) FROM writing_transactions");
        }

        public override async ValueTask DisposeAsync()
        {
            NpgsqlConnection.ClearAllPools();
            await OnServerAsync($"DROP DATABASE IF EXISTS {_database} WITH (FORCE)");
        }

        protected override async Task<DbConnection> OpenAsync()
        {
            var connection = new NpgsqlConnection(ConnectionString);
            await connection.OpenAsync();
            return connection;
        }

        private async Task OnServerAsync(string sql)
        {
            // Unpooled: a pooled session would hold the database open for DROP DATABASE to force out.
            await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(server) { Pooling = false }.ToString());
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync();
        }
    }
}
