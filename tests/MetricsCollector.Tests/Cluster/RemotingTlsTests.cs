using System.Diagnostics;
using MetricsCollector.Tests.Support;
using MetricsCollector.Tests.Support.Processes;

namespace MetricsCollector.Tests.Cluster;

/// <summary>
/// Remoting over TLS, configured as an operator does it: an akka { } section in the --config
/// file with a certificate made by openssl. Nodes that hold the cluster's certificate (and trust
/// it) form a cluster; a node with another certificate, or without TLS, cannot join.
/// </summary>
[Collection(ProcessClusterCollection.Name)]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "xunit disposes the test through IAsyncLifetime.DisposeAsync.")]
public sealed class RemotingTlsTests : IAsyncLifetime
{
    private const string Password = "test-only";
    private readonly string _dir = Directory.CreateTempSubdirectory("mc-tls-").FullName;
    private readonly List<NodeProcess> _nodes = [];
    private BrokerProcess? _broker;

    public async Task InitializeAsync() => _broker = await BrokerProcess.StartAsync(_dir, partitions: 4);

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes) await node.DisposeAsync();
        _broker?.Dispose();
        // MC_TEST_KEEP_LOGS=1 keeps the nodes' logs and certificates for a post-mortem.
        if (Environment.GetEnvironmentVariable("MC_TEST_KEEP_LOGS") != "1") Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Nodes_with_the_certificate_form_a_cluster_and_a_node_without_it_cannot_join()
    {
        var cluster = await SelfSignedAsync("cluster");
        var foreign = await SelfSignedAsync("foreign");
        var seedPort = NodeProcess.FreePort();

        var first = Node("first", seedPort, seedPort, cluster);
        await first.StartAsync();
        var second = Node("second", NodeProcess.FreePort(), seedPort, cluster);
        // Ready means Up in a cluster, and with only the first as seed node that is the first's cluster.
        await second.StartAsync();
        Assert.True(first.Logged($"Leader is moving node [akka.ssl.tcp://metrics-collector@127.0.0.1:{second.ClusterPort}] to [Up]"), first.LogTail());

        var withOtherCertificate = Node("other-certificate", NodeProcess.FreePort(), seedPort, foreign);
        var withoutTls = Node("without-tls", NodeProcess.FreePort(), seedPort, certificate: null);
        await Task.WhenAll(NeverReadyAsync(withOtherCertificate), NeverReadyAsync(withoutTls));

        foreach (var intruder in new[] { withOtherCertificate, withoutTls })
        {
            Assert.False(first.Logged($"127.0.0.1:{intruder.ClusterPort}] is JOINING"), first.LogTail());
            Assert.True(intruder.Logged("Couldn't join seed nodes") || intruder.Logged("AssociationError"), intruder.LogTail());
        }
        Assert.True(withOtherCertificate.Logged("certificate"), withOtherCertificate.LogTail());
        Assert.True(await first.IsReadyAsync() && await second.IsReadyAsync(), "the cluster's own nodes stay ready");
    }

    /// <summary>The node never gets ready: it waits to join, or stops (Akka stops a node whose TLS handshake failed).</summary>
    private static async Task NeverReadyAsync(NodeProcess node)
    {
        var e = await Assert.ThrowsAnyAsync<Exception>(() => node.StartAsync(readyWithin: TimeSpan.FromSeconds(20)));
        Assert.True(e is TimeoutException || e.Message.Contains("exited with", StringComparison.Ordinal), e.ToString());
    }

    /// <param name="seedPort">The first node's port: it seeds itself, the others join it.</param>
    /// <param name="certificate">The node's certificate, which it also trusts; null for remoting without TLS.</param>
    private NodeProcess Node(string name, int clusterPort, int seedPort, Certificate? certificate)
    {
        // Each node has a SQLite store of its own: this test looks at membership, not at results.
        var environment = NodeEnvironment.For(_broker!.BootstrapServers, "sqlite", $"Data Source={Path.Combine(_dir, name + ".db")}");
        environment["MC_SEED_NODES"] = $"127.0.0.1:{seedPort}";
        environment["MC_LOG_LEVEL"] = "info";
        var hocon = NodeEnvironment.TestHocon;
        if (certificate is not null)
        {
            // OpenSSL (and so .NET on Linux) takes its trusted roots from SSL_CERT_FILE: the node trusts its own certificate only.
            environment["SSL_CERT_FILE"] = certificate.Pem;
            hocon += $$"""

                akka.remote.dot-netty.tcp {
                  enable-ssl = true
                  ssl {
                    suppress-validation = false
                    certificate { path = "{{certificate.Pfx}}", password = "{{Password}}" }
                  }
                }
                """;
        }
        var node = new NodeProcess(name, environment, _dir, clusterPort, NodeProcess.FreePort(), hocon);
        _nodes.Add(node);
        return node;
    }

    private sealed record Certificate(string Pfx, string Pem);

    private async Task<Certificate> SelfSignedAsync(string name)
    {
        var key = Path.Combine(_dir, name + ".key");
        var pem = Path.Combine(_dir, name + ".pem");
        var pfx = Path.Combine(_dir, name + ".pfx");
        await OpenSslAsync("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", pem, "-days", "1",
            "-subj", $"/CN=metrics-collector-{name}", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost");
        await OpenSslAsync("pkcs12", "-export", "-in", pem, "-inkey", key, "-out", pfx, "-passout", $"pass:{Password}");
        return new Certificate(pfx, pem);
    }

    private static async Task OpenSslAsync(params string[] arguments)
    {
        var info = new ProcessStartInfo("openssl") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        using var process = Process.Start(info) ?? throw new InvalidOperationException("openssl did not start");
        var error = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0) throw new InvalidOperationException($"openssl {string.Join(' ', arguments)} failed ({process.ExitCode}): {await error}");
    }
}
