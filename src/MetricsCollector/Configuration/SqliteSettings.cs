namespace MetricsCollector.Configuration;

/// <summary>How the embedded store uses its SQLite file (<c>metrics-collector.store.sqlite</c>).</summary>
/// <param name="CacheMib">
/// The page cache of each of the result store's connections, in MiB, filled only as pages are read. Every upsert
/// probes the primary keys at a random device; SQLite's default 2 MiB holds a small share of them once a few
/// windows of 10,000 devices are stored, and each probe then reads its pages from the OS again.
/// </param>
/// <param name="CheckpointPages">
/// How many pages the write-ahead log gathers before a commit copies them into the file (SQLite's default is
/// 1,000). A row touches pages the next rows touch again (the newest window's entries of the top-N indexes, the
/// tables' last pages): at 1,000 a node catching up copied them back every few dozen milliseconds, each copy with
/// its fsync. The log grows to about this many pages of 4 KiB beside the file. Every writer of the file (the
/// snapshot table too) sets it, since whichever commits past it makes the copy.
/// </param>
public sealed record SqliteSettings(int CacheMib, int CheckpointPages)
{
    /// <summary>The shipped configuration's values (docs/benchmarks.md, "Result writes" and "Seventh round"), for stores made outside a node.</summary>
    public static readonly SqliteSettings Default = new(64, 16_384);
}
