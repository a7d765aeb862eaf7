using System.Net;
using System.Net.Sockets;

namespace MetricsCollector.Kafka;

/// <summary>
/// Forwards a fixed loopback port to a mock broker's random one. librdkafka's mock brokers always
/// bind port 0, but they can advertise any address; advertising this relay gives the embedded
/// broker a port that scripts and other nodes can be told in advance. When the broker behind it
/// is down, connections are accepted and closed at once, as a client would see a dead broker.
/// </summary>
internal sealed class LoopbackRelay : IDisposable
{
    private readonly TcpListener _listener;
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stop = new();

    public LoopbackRelay(int port, int targetPort)
    {
        _targetPort = targetPort;
        _listener = new TcpListener(IPAddress.Loopback, port);
        _listener.Start();
        _ = AcceptAsync();
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                _ = PipeAsync(client);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Stopped by Dispose.
        }
    }

    private async Task PipeAsync(TcpClient client)
    {
        using (client)
        using (var upstream = new TcpClient())
        {
            try
            {
                await upstream.ConnectAsync(IPAddress.Loopback, _targetPort, _stop.Token);
                client.NoDelay = true;
                upstream.NoDelay = true;
                var downstream = client.GetStream();
                var toBroker = upstream.GetStream();
                // Either side closing ends both, so a broker going down drops its clients too.
                await Task.WhenAny(downstream.CopyToAsync(toBroker, _stop.Token), toBroker.CopyToAsync(downstream, _stop.Token));
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // A dead peer is the expected way for a relayed connection to end.
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _stop.Dispose();
    }
}
