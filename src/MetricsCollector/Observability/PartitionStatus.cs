namespace MetricsCollector.Observability;

/// <summary>
/// Where one partition assigned to this node stands: its event-time watermark (epoch ms), the
/// offset last committed (-1 before the first commit), the log end the broker last reported
/// (null when unknown), and the lag between them (null while either is unknown).
/// </summary>
public sealed record PartitionStatus(int Partition, long Watermark, long Committed, long? LogEnd, long? Lag);
