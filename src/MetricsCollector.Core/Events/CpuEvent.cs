namespace MetricsCollector.Core.Events;

/// <summary>
/// One valid reading from a device, as decoded from a Kafka record value.
/// <see cref="Timestamp"/> is the event time in epoch milliseconds (UTC), in
/// <c>[0, 253402300799999]</c>; <see cref="CpuUsage"/> is finite, in <c>[0, 100]</c>, and never
/// negative zero.
/// </summary>
public readonly record struct CpuEvent(string DeviceId, long Timestamp, double CpuUsage);
