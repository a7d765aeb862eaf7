using System.Net;
using System.Net.Sockets;
using MetricsCollector.Membership;

namespace MetricsCollector.Tests.Membership;

/// <summary>The probe against real sockets on loopback.</summary>
public sealed class ConnectionProbeTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task A_listening_port_accepts()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            Assert.Equal(ProbeAnswer.Accepted, await ConnectionProbe.ProbeAsync("127.0.0.1", port, Timeout));
        }
        finally
        {
            listener.Stop();
        }
    }

    [Fact]
    public async Task A_port_nobody_listens_on_refuses()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        Assert.Equal(ProbeAnswer.Refused, await ConnectionProbe.ProbeAsync("127.0.0.1", port, Timeout));
    }

    [Fact]
    public async Task A_host_that_cannot_be_reached_is_silent_not_refused()
    {
        // .invalid never resolves (RFC 2606): no host, so nothing is known of any process.
        Assert.Equal(ProbeAnswer.Silent, await ConnectionProbe.ProbeAsync("member.invalid", 4053, TimeSpan.FromMilliseconds(500)));
    }
}
