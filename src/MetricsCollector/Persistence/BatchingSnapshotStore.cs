using Akka.Configuration;
using Akka.Event;
using Akka.Persistence;
using Akka.Persistence.Snapshot;
using MetricsCollector.Configuration;
using MetricsCollector.Observability;

namespace MetricsCollector.Persistence;

/// <summary>
/// The snapshot store of the device actors, on SQLite or PostgreSQL (<see cref="SnapshotTable"/>).
/// Concurrent saves go to the database together, one transaction per batch, and concurrent loads in one
/// query per batch (<see cref="Batcher{TRequest,TResult}"/>): with a statement per snapshot, a node at
/// 10,000 devices wrote a few hundred snapshots a second. Only the newest snapshot of a persistence id
/// is kept, so a load whose criteria exclude it finds none.
/// </summary>
/// <remarks>
/// Akka's base class answers a failed save by deleting the snapshot the save named. Devices save every
/// snapshot at sequence number 0, and a save that failed may still have been written (its batch
/// committed after the caller's timeout): deleting it would leave the device with no snapshot at all
/// while its partition has committed offsets that only that snapshot covered. So that clean-up does
/// nothing here; a save that failed leaves the store as it was, or holding the complete newer
/// snapshot. An explicit delete removes only the snapshot it names, timestamp included.
/// </remarks>
public sealed class BatchingSnapshotStore : SnapshotStore
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Akka.Serialization.Serialization _serialization = Context.System.Serialization;
    private readonly SnapshotTable _table;
    private readonly Batcher<StoredSnapshot, bool> _saves;
    private readonly Batcher<string, StoredSnapshot?> _loads;
    private SnapshotMetadata? _failedSave;

    public BatchingSnapshotStore(Config config)
    {
        var settings = SnapshotStoreSettings.FromPluginConfig(config);
        _table = SnapshotTable.Create(config.GetString("provider"), config.GetString("connection-string"), settings.SqliteCheckpointPages);
        _saves = new Batcher<StoredSnapshot, bool>(WriteAsync, settings.BatchSize, settings.BatchDelay, settings.OperationTimeout, "snapshot saves");
        _loads = new Batcher<string, StoredSnapshot?>(ReadAsync, settings.BatchSize, settings.BatchDelay, settings.OperationTimeout, "snapshot loads");
    }

    protected override async Task<SelectedSnapshot?> LoadAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken = default)
    {
        var row = await _loads.Submit(persistenceId, cancellationToken);
        if (row is null) return null;
        var metadata = new SnapshotMetadata(persistenceId, row.SequenceNr, new DateTime(row.CreatedTicks, DateTimeKind.Utc));
        return Matches(criteria, metadata)
            ? new SelectedSnapshot(metadata, _serialization.Deserialize(row.Payload, row.SerializerId, row.Manifest))
            : null;
    }

    protected override async Task SaveAsync(SnapshotMetadata metadata, object snapshot, CancellationToken cancellationToken = default)
    {
        var serializer = _serialization.FindSerializerFor(snapshot);
        var row = new StoredSnapshot(
            metadata.PersistenceId, metadata.SequenceNr, metadata.Timestamp.Ticks,
            serializer.Identifier, Akka.Serialization.Serialization.ManifestFor(serializer, snapshot), serializer.ToBinary(snapshot));
        await _saves.Submit(row, cancellationToken);
    }

    protected override Task DeleteAsync(SnapshotMetadata metadata, CancellationToken cancellationToken = default)
    {
        // The base class's clean-up after a failed save (see the remarks): it passes the failure's own metadata.
        if (ReferenceEquals(Interlocked.CompareExchange(ref _failedSave, null, metadata), metadata)) return Task.CompletedTask;
        // Akka's own DeleteSnapshot(sequenceNr) names no timestamp: that one means any.
        var created = metadata.Timestamp == DateTime.MinValue
            ? (DateTime.MinValue.Ticks, DateTime.MaxValue.Ticks)
            : (metadata.Timestamp.Ticks, metadata.Timestamp.Ticks);
        return WithSchemaAsync(ct => _table.DeleteAsync(metadata.PersistenceId, (metadata.SequenceNr, metadata.SequenceNr), created, ct), cancellationToken);
    }

    protected override Task DeleteAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken = default) =>
        WithSchemaAsync(ct => _table.DeleteAsync(
            persistenceId,
            (criteria.MinSequenceNr, criteria.MaxSequenceNr),
            ((criteria.MinTimestamp ?? DateTime.MinValue).Ticks, criteria.MaxTimeStamp.Ticks),
            ct), cancellationToken);

    protected override bool ReceivePluginInternal(object message)
    {
        // The base class hands a failed save here first and then to DeleteAsync(metadata), on this thread.
        if (message is SaveSnapshotFailure failure) _failedSave = failure.Metadata;
        return false;
    }

    protected override void PostStop()
    {
        // What the store has taken is still answered (within a batch's timeout); then the connections close.
        _ = CloseAsync();
        base.PostStop();
    }

    private async Task CloseAsync()
    {
        try
        {
            await Task.WhenAll(_saves.StopAsync(), _loads.StopAsync());
            await _table.DisposeAsync();
        }
        catch (Exception e)
        {
            _log.Warning(e, "Closing the snapshot store failed");
        }
    }

    private static bool Matches(SnapshotSelectionCriteria criteria, SnapshotMetadata metadata) =>
        metadata.SequenceNr >= criteria.MinSequenceNr && metadata.SequenceNr <= criteria.MaxSequenceNr
        && metadata.Timestamp >= (criteria.MinTimestamp ?? DateTime.MinValue) && metadata.Timestamp <= criteria.MaxTimeStamp;

    private async Task<IReadOnlyList<bool>> WriteAsync(IReadOnlyList<StoredSnapshot> saves, CancellationToken ct)
    {
        await EnsureSchemaAsync();
        // Two saves of one id in a batch: the later one is the newer snapshot (one statement may not touch a row twice).
        var newest = new Dictionary<string, StoredSnapshot>(saves.Count);
        foreach (var save in saves)
        {
            if (!newest.TryGetValue(save.PersistenceId, out var kept) || save.SequenceNr >= kept.SequenceNr) newest[save.PersistenceId] = save;
        }
        await CollectorTracing.SnapshotBatch(newest.Count, () => _table.WriteAsync(newest.Count == saves.Count ? saves : [.. newest.Values], ct));
        return new bool[saves.Count];
    }

    private async Task<IReadOnlyList<StoredSnapshot?>> ReadAsync(IReadOnlyList<string> persistenceIds, CancellationToken ct)
    {
        await EnsureSchemaAsync();
        var rows = (await _table.ReadAsync([.. persistenceIds.Distinct()], ct)).ToDictionary(r => r.PersistenceId);
        return [.. persistenceIds.Select(id => rows.GetValueOrDefault(id))];
    }

    private async Task WithSchemaAsync(Func<CancellationToken, Task> delete, CancellationToken ct)
    {
        await EnsureSchemaAsync();
        await delete(ct);
    }

    private async Task EnsureSchemaAsync()
    {
        if (await _table.EnsureSchemaAsync() is { } copied)
        {
            _log.Info("Created the snapshot table {0}{1}", SnapshotTable.Name,
                copied > 0 ? $" and copied {copied} snapshots from Akka.Persistence.Sql's table {SnapshotTable.LegacyName}" : "");
        }
    }
}
