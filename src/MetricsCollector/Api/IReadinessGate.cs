namespace MetricsCollector.Api;

/// <summary>
/// Asked by the result routes before they answer: while the node is not ready (not an Up
/// cluster member, no assignment from the consumer group yet, a partition held back) they
/// answer 503, so that a client or a balancer goes to another node. Only cheap, in-memory
/// conditions: a store that is down shows in the routes' own 503 when they reach it.
/// </summary>
public interface IReadinessGate
{
    /// <summary>Null when the node may serve; otherwise what is not ready, for the problem's detail.</summary>
    string? NotReady();
}
