using MetricsCollector.Partitions;

namespace MetricsCollector.ReadSide;

/// <summary>Partition checkpoints kept in the result store, beside the rows they account for.</summary>
public sealed class StoreProgress(IResultStore store) : IPartitionProgressStore
{
    public Task SaveAsync(string key, PartitionProgress progress) => store.SaveProgressAsync(key, progress.Encode());

    public async Task<PartitionProgress?> LoadAsync(string key) =>
        await store.LoadProgressAsync(key) is { } text ? PartitionProgress.Decode(text) : null;

    /// <summary>Read by the API every second, for every partition: the timers are passed over, not built.</summary>
    public async Task<long?> LoadFinalThroughAsync(string key) =>
        await store.LoadProgressAsync(key) is { } text ? PartitionProgress.DecodeWithoutTimers(text).FinalThrough : null;
}
