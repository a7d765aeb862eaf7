namespace MetricsCollector.Observability;

public sealed record PartitionStatus(int Partition, long Watermark, long Committed, long? LogEnd, long? Lag);
