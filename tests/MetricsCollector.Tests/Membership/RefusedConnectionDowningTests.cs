using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Cluster;
using AkkaCluster = Akka.Cluster.Cluster;
using Akka.Configuration;
using Akka.Event;
using Akka.Remote;
using Akka.TestKit.Xunit2;
using MetricsCollector.Configuration;
using MetricsCollector.Membership;
using Xunit.Abstractions;

namespace MetricsCollector.Tests.Membership;

/// <summary>
/// Three real cluster members in one process, over real TCP on loopback. Heartbeats take a minute
/// to call a member unreachable and no downing provider runs, so a member downed within seconds
/// here was downed on refused connections and on nothing else.
/// </summary>
public sealed class RefusedConnectionDowningTests : TestKit
{
    private const string SystemName = "refusal";

    private static readonly Config ClusterConfig = ConfigurationFactory.ParseString($$"""
        akka.actor.provider = cluster
        akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0 }
        akka.cluster.failure-detector {
          implementation-class = "{{AkkaConfiguration.FailureDetectorClass}}"
          acceptable-heartbeat-pause = 60s
        }
        akka.cluster.downing-provider-class = ""
        akka.cluster.run-coordinated-shutdown-when-down = off
        akka.coordinated-shutdown.run-by-actor-system-terminate = off
        akka.loglevel = INFO
        """);

    private readonly List<ActorSystem> _others = [];

    public RefusedConnectionDowningTests(ITestOutputHelper output) : base(ClusterConfig, SystemName, output)
    {
    }

    protected override void AfterAll()
    {
        foreach (var other in _others) other.Terminate().Wait(TimeSpan.FromSeconds(10));
        base.AfterAll();
    }

    private AkkaCluster Self => AkkaCluster.Get(Sys);

    /// <summary>This test's system and two more, all Up, with the downing actor on this one.</summary>
    private async Task<(Address B, ActorSystem BSystem, Address C, ActorSystem CSystem)> ThreeMembersAsync()
    {
        Self.Join(Self.SelfAddress);
        for (var i = 0; i < 2; i++)
        {
            var other = ActorSystem.Create(SystemName, ClusterConfig);
            _others.Add(other);
            AkkaCluster.Get(other).Join(Self.SelfAddress);
        }
        await AwaitConditionAsync(() => Task.FromResult(Self.State.Members.Count(m => m.Status == MemberStatus.Up) == 3), TimeSpan.FromSeconds(30));
        Sys.ActorOf(RefusedConnectionDowning.Props(), "refused-connection-downing");
        return (AkkaCluster.Get(_others[0]).SelfAddress, _others[0], AkkaCluster.Get(_others[1]).SelfAddress, _others[1]);
    }

    private MemberStatus? StatusOf(Address address) => Self.State.Members.FirstOrDefault(m => m.Address == address)?.Status;

    [Fact]
    public async Task A_member_whose_port_refuses_is_downed_and_removed_within_seconds()
    {
        var (b, _, c, cSystem) = await ThreeMembersAsync();
        await cSystem.Terminate();
        await AwaitConditionAsync(() => Task.FromResult(StatusOf(c) is null), TimeSpan.FromSeconds(25));
        Assert.Equal(MemberStatus.Up, StatusOf(b));
    }

    [Fact]
    public async Task A_silent_member_whose_port_still_accepts_is_left_to_the_failure_detector()
    {
        var (_, _, c, cSystem) = await ThreeMembersAsync();
        await cSystem.Terminate();
        // A paused process: its kernel still accepts connections, nothing answers on them.
        using var standIn = new StandIn(c.Port!.Value);
        // The association with it drops, as when it stopped answering.
        Sys.EventStream.Publish(new DisassociatedEvent(Self.SelfAddress, c, inbound: false));
        await standIn.Probed.WaitAsync(TimeSpan.FromSeconds(25));
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(MemberStatus.Up, StatusOf(c));
    }

    [Fact]
    public async Task A_member_left_alone_downs_nobody()
    {
        var warnings = CreateTestProbe();
        Sys.EventStream.Subscribe(warnings.Ref, typeof(Warning));
        var (b, bSystem, c, cSystem) = await ThreeMembersAsync();
        await Task.WhenAll(bSystem.Terminate(), cSystem.Terminate());
        await warnings.FishForMessageAsync<Warning>(w => w.Message.ToString()!.Contains("not a majority"), TimeSpan.FromSeconds(25));
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(MemberStatus.Up, StatusOf(b));
        Assert.Equal(MemberStatus.Up, StatusOf(c));
    }

    /// <summary>Listens on a dead member's port; completes <see cref="Probed"/> on a connection that closes without a byte, as a probe's does.</summary>
    private sealed class StandIn : IDisposable
    {
        private readonly TcpListener _listener;
        private readonly TaskCompletionSource _probed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public StandIn(int port)
        {
            _listener = new TcpListener(IPAddress.Loopback, port);
            _listener.Start();
            _ = AcceptAsync();
        }

        public Task Probed => _probed.Task;

        private async Task AcceptAsync()
        {
            try
            {
                while (true)
                {
                    var client = await _listener.AcceptTcpClientAsync();
                    _ = WatchAsync(client);
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                // Stopped.
            }
        }

        private async Task WatchAsync(TcpClient client)
        {
            using (client)
            {
                try
                {
                    if (await client.GetStream().ReadAsync(new byte[1]) == 0) _probed.TrySetResult();
                }
                catch (IOException)
                {
                }
            }
        }

        public void Dispose() => _listener.Stop();
    }
}
