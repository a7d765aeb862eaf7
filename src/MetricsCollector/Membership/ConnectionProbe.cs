using System.Net.Sockets;

namespace MetricsCollector.Membership;

public enum ProbeAnswer
{
    /// <summary>The connection was made: something listens there.</summary>
    Accepted,

    /// <summary>The host answered that nothing listens on the port.</summary>
    Refused,

    /// <summary>No answer in time, or no route: nothing is known about the process.</summary>
    Silent,
}

/// <summary>
/// Opens a TCP connection to a member's cluster port and closes it at once, to learn whether
/// anything still listens there. It sends nothing: the member's transport sees a connection that
/// ends before its handshake, which it drops.
/// </summary>
public static class ConnectionProbe
{
    public static async Task<ProbeAnswer> ProbeAsync(string host, int port, TimeSpan timeout, CancellationToken ct = default)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            // A host name with several addresses is tried address by address; what the last one
            // says is the answer.
            await socket.ConnectAsync(host, port, deadline.Token);
            return ProbeAnswer.Accepted;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return ProbeAnswer.Refused;
        }
        catch (SocketException)
        {
            return ProbeAnswer.Silent;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return ProbeAnswer.Silent;
        }
    }
}
