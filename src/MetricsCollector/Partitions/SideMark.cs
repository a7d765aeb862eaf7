namespace MetricsCollector.Partitions;

/// <summary>
/// Where a partition's side records stand in one side topic, as of a checkpoint: they all go to
/// <see cref="Partition"/>, and every one of them for a source offset at or past the checkpoint
/// sits at <see cref="Offset"/> or later. A replay from the checkpoint reads that partition from
/// there to its end to learn which side records were already delivered.
/// </summary>
public sealed record SideMark(string Topic, int Partition, long Offset);
