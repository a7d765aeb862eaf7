using System.Net;
using MetricsCollector.Api;
using MetricsCollector.Core.Windows;
using MetricsCollector.ReadSide;
using MetricsCollector.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MetricsCollector.Tests.Api;

/// <summary>The API on real Kestrel, on a free loopback port, wired as the node wires it.</summary>
public sealed class ApiHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ApiHost(WebApplication app, HttpClient client)
    {
        _app = app;
        Client = client;
    }

    public HttpClient Client { get; }

    public static async Task<ApiHost> StartAsync(IResultStore store, ILatestTopN latest)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(options => options.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton(latest);
        builder.Services.AddMetricsApi();

        var app = builder.Build();
        app.UseMetricsApi();
        await app.StartAsync();

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new ApiHost(app, new HttpClient { BaseAddress = new Uri(address) });
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Stands in for the top-N singleton: ranks whatever rows it was given, or fails as told.</summary>
public sealed class InMemoryLatestTopN(IReadOnlyList<WindowResult> rows, Exception? failure = null) : ILatestTopN
{
    public Task<IReadOnlyList<WindowResult>> TopAsync(int n, RankBy by, CancellationToken ct) =>
        failure is not null
            ? Task.FromException<IReadOnlyList<WindowResult>>(failure)
            : Task.FromResult<IReadOnlyList<WindowResult>>(rows.Order(by.Comparer()).Take(n).ToList());
}

/// <summary>A real, empty SQLite store in a temp file, removed on dispose.</summary>
public sealed class TempSqliteStore : IAsyncDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"mc-api-test-{Guid.NewGuid():N}.db");

    private TempSqliteStore() => Store = new SqliteResultStore($"Data Source={_path}");

    public SqliteResultStore Store { get; }

    public static async Task<TempSqliteStore> CreateAsync(IReadOnlyList<WindowResult> rows)
    {
        var temp = new TempSqliteStore();
        await temp.Store.EnsureSchemaAsync();
        await temp.Store.UpsertAsync(SinglePart.Of(rows));
        return temp;
    }

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        foreach (var suffix in new[] { "", "-wal", "-shm" })
        {
            File.Delete(_path + suffix);
        }
    }
}
