using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using System.Collections;
using MetricsCollector.Configuration;
using MetricsCollector.Hosting;
using MetricsCollector.ReadSide;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace MetricsCollector.Tests.Support;

/// <summary>
/// A real node in the test process: Kestrel on a free port, Akka remoting on a free port, the
/// given broker and store. Configured the way users configure it (MC_* variables and a HOCON file).
/// </summary>
public sealed class TestNode : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestNode(WebApplication app, CollectorSettings settings)
    {
        _app = app;
        Settings = settings;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Http = new HttpClient { BaseAddress = new Uri(address.Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal)) };
    }

    public CollectorSettings Settings { get; }

    public HttpClient Http { get; }

    public IResultStore Store => _app.Services.GetRequiredService<IResultStore>();

    public IServiceProvider Services => _app.Services;

    /// <summary>Starts a node with small windows (60 s sliding by 10 s, bound 5 s, lateness 5 s, idle 5 s) unless overridden.</summary>
    public static Task<TestNode> StartAsync(string bootstrap, string sqliteFile, IDictionary<string, string>? environment = null, string? hocon = null) =>
        StartAsync(bootstrap, "sqlite", $"Data Source={sqliteFile}", Path.GetDirectoryName(sqliteFile)!, environment, hocon);

    public static async Task<TestNode> StartAsync(
        string bootstrap, string store, string connection, string workDir, IDictionary<string, string>? environment = null, string? hocon = null,
        IEnumerable<IHostedServiceRegistration>? extras = null)
    {
        var env = new Hashtable();
        foreach (var (key, value) in NodeEnvironment.For(bootstrap, store, connection)) env[key] = value;
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) env[key] = value;
        var configFile = Path.Combine(workDir, $"node-{Guid.NewGuid():N}.conf");
        await File.WriteAllTextAsync(configFile, hocon ?? NodeEnvironment.TestHocon);
        var settings = CollectorSettings.Load(configFile, env);
        // As `run` does: MC_GENERATOR=on adds the embedded generator, producing into the node's broker.
        if (settings.GeneratorEnabled) extras = [.. extras ?? [], new GeneratorService.Registration(bootstrap, settings)];
        var app = NodeHost.Build(settings, bootstrap, extras);
        await app.StartAsync();
        return new TestNode(app, settings);
    }

    /// <summary>A graceful stop: drain, flush every partition, leave the cluster.</summary>
    public async Task StopAsync() => await _app.StopAsync();

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        try
        {
            await _app.StopAsync();
        }
        finally
        {
            await _app.DisposeAsync();
        }
    }
}
