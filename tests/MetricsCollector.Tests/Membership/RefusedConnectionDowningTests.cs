using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Cluster;
using AkkaCluster = Akka.Cluster.Cluster;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using MetricsCollector.Hosting;
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
          implementation-class = "{{NodeHost.FailureDetectorClass}}"
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
        await AwaitConditionAsync(() => Task.FromResult(StatusOf(c) is null), TimeSpan.FromSeconds(15));
        Assert.Equal(MemberStatus.Up, StatusOf(b));
    }

    [Fact]
    public async Task A_silent_member_whose_port_still_accepts_is_left_to_the_failure_detector()
    {
        var (_, _, c, cSystem) = await ThreeMembersAsync();
        await cSystem.Terminate();
        // A paused process: its kernel still accepts connections, nothing answers on them.
        var standIn = new TcpListener(IPAddress.Loopback, c.Port!.Value);
        standIn.Start();
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(6));
            Assert.Equal(MemberStatus.Up, StatusOf(c));
        }
        finally
        {
            standIn.Stop();
        }
    }

    [Fact]
    public async Task A_member_left_alone_downs_nobody()
    {
        var (b, bSystem, c, cSystem) = await ThreeMembersAsync();
        await Task.WhenAll(bSystem.Terminate(), cSystem.Terminate());
        await Task.Delay(TimeSpan.FromSeconds(6));
        Assert.Equal(MemberStatus.Up, StatusOf(b));
        Assert.Equal(MemberStatus.Up, StatusOf(c));
    }
}
