using Akka.Configuration;
using Akka.Event;
using Akka.Remote;

namespace MetricsCollector.Membership;

/// <summary>
/// The cluster's phi-accrual failure detector, except that a member in <see cref="GoneMembers"/>
/// is unavailable at once. Downing alone is not enough: the leader removes a downed member only
/// once some member sees it unreachable, which heartbeats would take their whole pause to decide,
/// and until it is removed its shards stay where they were.
/// </summary>
public sealed class RefusalAwareFailureDetector(Config config, EventStream eventStream) : PhiAccrualFailureDetector(config, eventStream)
{
    private readonly GoneMembers _gone = GoneMembers.Of(eventStream);

    // Akka's registry sets Address after construction, before the first question.
    public override bool IsAvailable => !_gone.Contains(Address) && base.IsAvailable;
}
