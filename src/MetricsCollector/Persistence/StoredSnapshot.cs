namespace MetricsCollector.Persistence;

/// <summary>A row of the snapshot table: the one snapshot kept for a persistence id, serialized the way Akka serializes it.</summary>
/// <param name="CreatedTicks">The snapshot's timestamp in UTC ticks: exact, so that a delete can name this very snapshot.</param>
public sealed record StoredSnapshot(string PersistenceId, long SequenceNr, long CreatedTicks, int SerializerId, string Manifest, byte[] Payload);
