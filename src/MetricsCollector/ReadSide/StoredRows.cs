using System.Collections;
using MetricsCollector.Core.Windows;

namespace MetricsCollector.ReadSide;

/// <summary>
/// What a store write did: one row per window of the batch (<see cref="IResultStore.UpsertAsync"/>), and of
/// them the rows the store took (<see cref="Changed"/>). A row it did not take, because the same revision
/// in the same form (or a later one) was stored already, as when a device replays records after a crash, is
/// not what the store holds: it differs at least in when it was made.
/// </summary>
public sealed class StoredRows(IReadOnlyList<WindowResult> rows, IReadOnlyList<WindowResult> changed) : IReadOnlyList<WindowResult>
{
    public static readonly StoredRows None = new([], []);

    /// <summary>The rows that are now the stored ones.</summary>
    public IReadOnlyList<WindowResult> Changed { get; } = changed;

    public int Count => rows.Count;

    public WindowResult this[int index] => rows[index];

    public IEnumerator<WindowResult> GetEnumerator() => rows.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
