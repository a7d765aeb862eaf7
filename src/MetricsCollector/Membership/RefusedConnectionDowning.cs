using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using Akka.Remote;

namespace MetricsCollector.Membership;

/// <summary>
/// Downs a member whose process is gone as soon as its cluster port refuses connections, instead
/// of after the failure detector's heartbeat pause and the split-brain resolver's stable-after
/// (about 12 s under load). A kill -9 closes the node's connections at once; the first sign is a
/// dropped or failed association, or at the latest the member turning unreachable. From then on
/// the member's port is probed a few times a second, and once it has refused a streak of them
/// (<see cref="RefusalEvidence{TMember}"/>) the member is marked unreachable
/// (<see cref="RefusalAwareFailureDetector"/>) and downed, provided the members whose ports
/// accept a connection at that moment are a strict majority. The leader removes it once every
/// member has seen that, and its shards and singletons move. A member that is silent without
/// refusing (a paused process, a lost host, a partition) is left to the failure detector and the
/// split-brain resolver.
/// </summary>
public sealed class RefusedConnectionDowning : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan ProbeEvery = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(1);

    // A member stays suspect this long after the last sign of trouble unless a probe finds it
    // listening: long enough to outlast the failure detector, which may be the only sign.
    private static readonly TimeSpan SuspectFor = TimeSpan.FromSeconds(20);

    private readonly Cluster _cluster = Cluster.Get(Context.System);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly GoneMembers _gone = GoneMembers.Of(Context.System.EventStream);
    private readonly RefusalEvidence<Address> _evidence = new(refusalsNeeded: 3, spanNeeded: TimeSpan.FromMilliseconds(500));
    private readonly Dictionary<Address, DateTime> _suspectUntil = new();
    private readonly HashSet<Address> _probing = new();
    private readonly HashSet<Address> _heldBack = new();

    public ITimerScheduler Timers { get; set; } = null!;

    public RefusedConnectionDowning()
    {
        Receive<DisassociatedEvent>(e => Suspect(e.RemoteAddress));
        Receive<AssociationErrorEvent>(e => Suspect(e.RemoteAddress));
        Receive<ClusterEvent.UnreachableMember>(e => Suspect(e.Member.Address));
        Receive<ClusterEvent.MemberRemoved>(e => _gone.Clear(e.Member.Address));
        Receive<ProbeAgain>(p => Probe(p.Member));
        Receive<Probed>(OnProbed);
        Receive<QuorumChecked>(OnQuorumChecked);
    }

    public static Props Props() => Akka.Actor.Props.Create(() => new RefusedConnectionDowning());

    protected override void PreStart()
    {
        Context.System.EventStream.Subscribe(Self, typeof(DisassociatedEvent));
        Context.System.EventStream.Subscribe(Self, typeof(AssociationErrorEvent));
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.UnreachableMember), typeof(ClusterEvent.MemberRemoved));
    }

    protected override void PostStop()
    {
        Context.System.EventStream.Unsubscribe(Self);
        _cluster.Unsubscribe(Self);
    }

    /// <summary>A member other than this node that is joining, up or leaving: not downed, exiting or removed already.</summary>
    private bool IsDownable(Address address) =>
        address != _cluster.SelfAddress
        && _cluster.State.Members.Any(m => m.Address == address && m.Status is MemberStatus.Up or MemberStatus.WeaklyUp or MemberStatus.Joining or MemberStatus.Leaving);

    private void Suspect(Address address)
    {
        if (!IsDownable(address)) return;
        _suspectUntil[address] = DateTime.UtcNow + SuspectFor;
        if (!_probing.Contains(address) && !Timers.IsTimerActive(address)) Probe(address);
    }

    private void Probe(Address member)
    {
        if (!IsDownable(member) || !_suspectUntil.TryGetValue(member, out var until) || DateTime.UtcNow > until)
        {
            Forget(member);
            return;
        }
        _probing.Add(member);
        ConnectionProbe.ProbeAsync(member.Host!, member.Port!.Value, ProbeTimeout).PipeTo(
            Self,
            success: answer => new Probed(member, answer, DateTime.UtcNow),
            failure: _ => new Probed(member, ProbeAnswer.Silent, DateTime.UtcNow));
    }

    private void OnProbed(Probed probed)
    {
        var address = probed.Member;
        _probing.Remove(address);
        switch (probed.Answer)
        {
            case ProbeAnswer.Accepted:
                // Something listens: the process lives, and heartbeats decide.
                _log.Debug("{0} accepts connections; left to the failure detector", address);
                Forget(address);
                return;
            case ProbeAnswer.Refused:
                _evidence.Refused(address, probed.At);
                if (_evidence.IsGone(address))
                {
                    CheckQuorum(address);
                    return;
                }
                break;
            default:
                _evidence.NotRefused(address);
                break;
        }
        Timers.StartSingleTimer(address, new ProbeAgain(address), ProbeEvery);
    }

    /// <summary>
    /// Before downing a member shown gone, finds which of the others still answer by probing them
    /// all now: when several die together, or a firewall cuts this node off from several, their
    /// associations fail at different moments, and the first one proven gone must not be downed
    /// on a majority that is no longer there.
    /// </summary>
    private void CheckQuorum(Address gone)
    {
        _probing.Add(gone);
        var self = _cluster.SelfAddress;
        var others = _cluster.State.Members.Select(m => m.Address).Where(a => a != self && a != gone).ToList();
        Task.WhenAll(others.Select(async a => (Member: a, Answer: await ConnectionProbe.ProbeAsync(a.Host!, a.Port!.Value, ProbeTimeout))))
            .PipeTo(
                Self,
                success: answers => new QuorumChecked(gone, answers.Where(a => a.Answer == ProbeAnswer.Accepted).Select(a => a.Member).ToHashSet()),
                failure: _ => new QuorumChecked(gone, new HashSet<Address>()));
    }

    private void OnQuorumChecked(QuorumChecked checkedQuorum)
    {
        var address = checkedQuorum.Gone;
        _probing.Remove(address);
        var state = _cluster.State;
        if (!IsDownable(address) || _cluster.SelfMember.Status != MemberStatus.Up)
        {
            Forget(address);
            return;
        }
        // Members downed a moment ago may still be Up in this state: _gone counts them lost.
        var counted = state.Members.Where(m => m.Status is MemberStatus.Up or MemberStatus.Leaving).ToList();
        bool Answering(Member m) => m.Address == _cluster.SelfAddress
            || (checkedQuorum.Answering.Contains(m.Address) && !state.Unreachable.Contains(m) && !_gone.Contains(m.Address.ToString()));
        var (refusals, over) = _evidence.Describe(address);
        if (!StrictMajority.Remains(counted, m => !Answering(m)))
        {
            if (_heldBack.Add(address))
                _log.Warning("{0} refuses connections ({1} in {2:0} ms) but the members still answering are not a majority of {3}; the split-brain resolver decides",
                    address, refusals, over.TotalMilliseconds, counted.Count);
            Timers.StartSingleTimer(address, new ProbeAgain(address), ProbeEvery);
            return;
        }
        _log.Warning("Downing {0}: its cluster port refused {1} connections in {2:0} ms, so its process is gone", address, refusals, over.TotalMilliseconds);
        _gone.Mark(address);
        _cluster.Down(address);
        Forget(address);
    }

    private void Forget(Address member)
    {
        _suspectUntil.Remove(member);
        _evidence.NotRefused(member);
        _heldBack.Remove(member);
        Timers.Cancel(member);
    }

    private sealed record ProbeAgain(Address Member);

    private sealed record Probed(Address Member, ProbeAnswer Answer, DateTime At);

    private sealed record QuorumChecked(Address Gone, IReadOnlySet<Address> Answering);
}
