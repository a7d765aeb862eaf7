using Akka.Actor;
using MetricsCollector.Devices;

namespace MetricsCollector.Partitions;

/// <summary>
/// Where a partition's devices are. Every message to a device through the shard region costs two more hops
/// (region, shard) on one region actor that every partition of the node shares; a device's own address
/// comes with its first acknowledgement, and messages go straight to it from then on, until it stops. A
/// device of a partition always lives on the partition's node (shard = partition), so the address is local.
/// </summary>
public sealed class DeviceRoutes
{
    private readonly Dictionary<string, IActorRef> _byDevice = new();
    private readonly Dictionary<IActorRef, string> _byActor = new();

    public IActorRef? Of(string device) => _byDevice.GetValueOrDefault(device);

    /// <summary>Remembers the device's address; true when it is new (and should be watched).</summary>
    public bool Learn(string device, IActorRef actor)
    {
        if (actor.IsNobody() || _byDevice.TryGetValue(device, out var known) && known.Equals(actor)) return false;
        if (known is not null) _byActor.Remove(known);
        _byDevice[device] = actor;
        _byActor[actor] = device;
        return true;
    }

    /// <summary>Forgets a device that stopped; returns which it was, or null for an address not known.</summary>
    public string? Forget(IActorRef actor)
    {
        if (!_byActor.Remove(actor, out var device)) return null;
        if (_byDevice.TryGetValue(device, out var current) && current.Equals(actor)) _byDevice.Remove(device);
        return device;
    }
}
