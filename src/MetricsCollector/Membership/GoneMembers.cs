using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Akka.Actor;
using Akka.Event;

namespace MetricsCollector.Membership;

/// <summary>
/// The members of one actor system's cluster whose processes are known to be gone, shared between
/// <see cref="RefusedConnectionDowning"/>, which finds them, and
/// <see cref="RefusalAwareFailureDetector"/>, which reports them unreachable. Akka builds failure
/// detectors from a config and the system's event stream alone, so the event stream is the key
/// that keeps two actor systems in one process (as in tests) apart.
/// </summary>
public sealed class GoneMembers
{
    private static readonly ConditionalWeakTable<EventStream, GoneMembers> BySystem = new();

    // By address string: that is all a failure detector knows of the member it watches.
    private readonly ConcurrentDictionary<string, byte> _addresses = new();

    public static GoneMembers Of(EventStream eventStream) => BySystem.GetValue(eventStream, _ => new GoneMembers());

    public void Mark(Address member) => _addresses.TryAdd(member.ToString(), 0);

    /// <summary>Once the member is removed: a new incarnation may come back on the same address.</summary>
    public void Clear(Address member) => _addresses.TryRemove(member.ToString(), out _);

    public bool Contains(string address) => _addresses.ContainsKey(address);
}
