namespace MetricsCollector.Kafka;

/// <summary>
/// What <see cref="KafkaSideOutput.ReadBackAsync"/> found in a side-topic partition: its end offset
/// when read, and the side records of one source partition there, by source offset (the lowest
/// side offset when a record is there more than once).
/// </summary>
public sealed record SideReadBack(long End, IReadOnlyDictionary<long, long> BySourceOffset);
