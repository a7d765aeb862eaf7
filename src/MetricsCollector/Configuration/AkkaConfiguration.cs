using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Configuration;
using MetricsCollector.Membership;

namespace MetricsCollector.Configuration;

/// <summary>
/// Akka's configuration for a node: <c>hocon/akka.conf</c>, under the few values that follow
/// from the node's settings, under the <c>akka { }</c> section of the <c>--config</c> file.
/// </summary>
public static class AkkaConfiguration
{
    /// <summary>How Akka's config names <see cref="RefusalAwareFailureDetector"/>.</summary>
    public static readonly string FailureDetectorClass = $"{typeof(RefusalAwareFailureDetector).FullName}, {typeof(RefusalAwareFailureDetector).Assembly.GetName().Name}";

    /// <summary>The scheme of this node's cluster addresses (seed nodes included): TLS remoting has its own.</summary>
    public static string Protocol(CollectorSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return settings.AkkaOverrides.GetBoolean("akka.remote.dot-netty.tcp.enable-ssl") ? "akka.ssl.tcp" : "akka.tcp";
    }

    public static string DefaultsPath() => Path.Combine(AppContext.BaseDirectory, "hocon", "akka.conf");

    public static Config For(CollectorSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var detector = settings.DownOnRefusedConnection ? $"cluster.failure-detector.implementation-class = \"{FailureDetectorClass}\"" : "";
        // Akka publishes what passes loglevel; NodeLogger prints Akka's own entries only from metrics-collector.log-level.
        var fromSettings = ConfigurationFactory.ParseString($$"""
            metrics-collector.log-level = {{NameOf(settings.LogLevel)}}
            akka {
              loglevel = {{LogLevelOf(settings.OwnLogLevel)}}
              persistence.snapshot-store.batching {
                {{settings.SnapshotStore.PluginHocon(settings.StoreProvider, settings.PersistenceConnection)}}
              }
              {{detector}}
            }
            """);
        return settings.AkkaOverrides
            .WithFallback(fromSettings)
            .WithFallback(HoconText.Read(DefaultsPath(), DefaultsPath()));
    }

    /// <summary>
    /// Checks what Akka would only report as a library's error when remoting starts: with TLS on,
    /// the certificate file must be there and open with its password.
    /// </summary>
    internal static void Check(Config overrides)
    {
        const string tcp = "akka.remote.dot-netty.tcp";
        if (overrides.IsEmpty || !overrides.GetBoolean($"{tcp}.enable-ssl") || overrides.GetBoolean($"{tcp}.ssl.certificate.use-thumbprint-over-file")) return;
        var key = $"{tcp}.ssl.certificate.path";
        var path = overrides.GetString(key, "");
        if (string.IsNullOrWhiteSpace(path)) throw new ConfigurationException($"{key} must name the node's certificate (PKCS#12) when {tcp}.enable-ssl is on");
        if (!File.Exists(path)) throw new ConfigurationException($"{key}: '{path}' not found");
        try
        {
            using var certificate = X509CertificateLoader.LoadPkcs12FromFile(path, overrides.GetString($"{tcp}.ssl.certificate.password", null));
            if (!certificate.HasPrivateKey) throw new ConfigurationException($"{key}: '{path}' holds no private key");
        }
        catch (CryptographicException e)
        {
            throw new ConfigurationException($"{key}: '{path}' cannot be opened with {tcp}.ssl.certificate.password ({e.Message})");
        }
    }

    private static string NameOf(LogLevel level) => level switch
    {
        LogLevel.Trace or LogLevel.Debug => "debug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warning",
        _ => "error",
    };

    private static string LogLevelOf(LogLevel level) => level switch
    {
        LogLevel.Trace or LogLevel.Debug => "DEBUG",
        LogLevel.Information => "INFO",
        LogLevel.Warning => "WARNING",
        _ => "ERROR",
    };
}
