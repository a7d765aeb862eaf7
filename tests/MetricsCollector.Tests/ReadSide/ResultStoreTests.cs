using MetricsCollector.Core.Digests;
using MetricsCollector.Core.Windows;
using MetricsCollector.Persistence;
using MetricsCollector.ReadSide;
using MetricsCollector.Testing;

namespace MetricsCollector.Tests.ReadSide;

/// <summary>One contract, run against every backend: the API and the projection must not care which it has.</summary>
public abstract class ResultStoreTests : IAsyncLifetime
{
    private const long Minute = 60_000;
    private const long T0 = 1_764_307_800_000; // 2025-11-28T05:30:00Z

    private readonly IStoreFixture _fixture;

    protected ResultStoreTests(IStoreFixture fixture) => _fixture = fixture;

    private SqlResultStore Store => _fixture.Store;

    public Task InitializeAsync() => _fixture.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    internal static WindowResult Row(
        string device, long windowEnd, double p95 = 50, int revision = 1, bool final = false, double? other = null) =>
        new(device, windowEnd - 30 * Minute, windowEnd,
            P50: other ?? p95 / 2, P90: other ?? p95 - 1, P95: p95, P99: other ?? p95 + 1,
            Min: 0.5, Max: other ?? p95 + 2, Mean: other ?? p95 / 3, Count: 1000 + revision,
            Revision: revision, Final: final, LastUpdated: windowEnd + revision * 1000, Bounds: PercentileBounds.Within(0.5, other ?? p95 + 2));

    /// <summary>Rows as keyed producers give them: each window's one part.</summary>
    private Task<StoredRows> UpsertRowsAsync(
        IEnumerable<WindowResult> rows, IReadOnlyCollection<KeyValuePair<string, string>>? progress = null) =>
        Store.UpsertAsync(SinglePart.Of(rows), progress);

    [Fact]
    public async Task A_row_reads_back_exactly_as_written()
    {
        var row = new WindowResult("device-11", T0 - 30 * Minute, T0, 49.8, 91.0, 97.1, 99.2, 0.4, 99.9, 50.2, 18000, 3, true, T0 + 5 * Minute + 123,
            new PercentileBounds(new(48.9, 50.6), new(90, 91.7), new(96.8, 97.4), new(98.9, 99.5)));
        await UpsertRowsAsync([row]);

        Assert.Equal(row, await Store.LatestAsync("device-11"));
    }

    [Fact]
    public async Task A_part_reads_back_exactly_as_written_whatever_its_device_id_and_values()
    {
        var edge = Part("a", long.MaxValue - Minute, 0, int.MaxValue, false, 2, values: 1);
        var parts = new[]
        {
            Part("ünïcode-𝄞-device", T0, 3, 7, true, 1),
            edge with { Row = edge.Row with { Count = long.MaxValue, LastUpdated = long.MinValue, P50 = double.Epsilon } },
        };
        await Store.UpsertAsync(parts);

        foreach (var part in parts)
        {
            var stored = Assert.Single(await Store.PartsAsync([(part.Row.DeviceId, part.Row.WindowEnd)], part.Partition));
            Assert.Equal((part.Partition, part.Row), (stored.Partition, stored.Row));
            Assert.Equal(part.Digest, stored.Digest);
        }
    }

    /// <summary>A batch is written statement after statement: it must store what writing its parts one batch each stores.</summary>
    [Fact]
    public async Task A_batch_stores_what_its_parts_written_one_at_a_time_store()
    {
        var parts = Enumerable.Range(0, 41)
            .Select(i => Part($"device-{i % 7}", T0 + (i % 3) * Minute, i % 2, 1 + i % 4, i % 5 == 0, i))
            .ToArray();

        var together = await Store.UpsertAsync(parts);
        var stored = await StoredAsync(parts);
        await _fixture.ResetAsync();
        foreach (var part in parts)
        {
            await Store.UpsertAsync([part]);
        }

        var oneByOne = await StoredAsync(parts);
        Assert.Equal(stored.Rows, oneByOne.Rows);
        Assert.Equal(stored.Parts, oneByOne.Parts);
        Assert.Equal(stored.Rows, together.OrderBy(r => r.DeviceId, StringComparer.Ordinal).ThenBy(r => r.WindowEnd).ToList());
    }

    private async Task<(List<WindowResult> Rows, List<string> Parts)> StoredAsync(IEnumerable<WindowPart> written)
    {
        var rows = new List<WindowResult>();
        var parts = new List<string>();
        foreach (var window in written.Select(p => (p.Row.DeviceId, p.Row.WindowEnd)).Distinct().OrderBy(w => w.DeviceId, StringComparer.Ordinal).ThenBy(w => w.WindowEnd))
        {
            rows.Add((await Store.HistoryAsync(window.DeviceId, window.WindowEnd, window.WindowEnd, 1, null)).Items.Single());
            foreach (var partition in new[] { 0, 1 })
            {
                parts.AddRange((await Store.PartsAsync([window], partition)).Select(p => $"{p.Partition} {p.Row} {Convert.ToHexString(p.Digest)}"));
            }
        }

        return (rows, parts);
    }

    [Fact]
    public async Task Writing_the_same_rows_again_changes_nothing()
    {
        var rows = new[] { Row("a", T0), Row("a", T0 + Minute), Row("b", T0) };
        await UpsertRowsAsync(rows);
        await UpsertRowsAsync(rows);
        await UpsertRowsAsync(rows.Reverse().ToArray());

        var history = await Store.HistoryAsync("a", null, null, 100, null);
        Assert.Equal([rows[1], rows[0]], history.Items);
        Assert.Equal(rows[2], await Store.LatestAsync("b"));
    }

    /// <summary>The SQL upsert is a mirror of <see cref="NewerRevisionWins"/>: both give the same winner in every case, in separate writes and in one.</summary>
    [Fact]
    public async Task The_stored_row_is_the_one_the_newer_revision_rule_picks()
    {
        var cases = (from heldRevision in new[] { 1, 2 }
                     from heldFinal in new[] { false, true }
                     from revision in new[] { 1, 2 }
                     from final in new[] { false, true }
                     select (heldRevision, heldFinal, revision, final)).ToList();
        for (var i = 0; i < cases.Count; i++)
        {
            var (heldRevision, heldFinal, revision, final) = cases[i];
            var held = Row($"apart-{i}", T0, p95: 10, revision: heldRevision, final: heldFinal);
            var candidate = Row($"apart-{i}", T0, p95: 20, revision: revision, final: final);
            await UpsertRowsAsync([held]);
            var written = await UpsertRowsAsync([candidate]);
            var expected = NewerRevisionWins.Supersedes(candidate, held) ? candidate : held;
            Assert.Equal(expected, await Store.LatestAsync(held.DeviceId));
            // What the write says it took is what it took.
            Assert.Equal(expected == candidate ? [candidate] : [], written.Changed);
            Assert.Equal([candidate], written);

            var together = (Held: held with { DeviceId = $"together-{i}" }, Candidate: candidate with { DeviceId = $"together-{i}" });
            await UpsertRowsAsync([together.Held, together.Candidate]);
            Assert.Equal(expected with { DeviceId = $"together-{i}" }, await Store.LatestAsync($"together-{i}"));
        }
    }

    [Fact]
    public async Task An_older_revision_never_replaces_a_newer_one()
    {
        await UpsertRowsAsync([Row("a", T0, p95: 70, revision: 2)]);
        await UpsertRowsAsync([Row("a", T0, p95: 60, revision: 1)]);
        Assert.Equal(2, (await Store.LatestAsync("a"))!.Revision);

        await UpsertRowsAsync([Row("a", T0, p95: 80, revision: 3)]);
        Assert.Equal(Row("a", T0, p95: 80, revision: 3), await Store.LatestAsync("a"));
    }

    /// <summary>
    /// A window closing unchanged: its final row has the stored revision and ranked figures, and whatever else it
    /// carries (its time stamp, and here every other column too) is what is stored, as for any winning row.
    /// </summary>
    [Fact]
    public async Task The_final_form_of_the_stored_revision_is_stored_whole_where_its_ranked_figures_are_the_same()
    {
        var held = Row("a", T0, p95: 70, revision: 2);
        var closed = held with
        {
            Final = true, LastUpdated = held.LastUpdated + 5 * Minute, WindowStart = held.WindowStart + 1, Min = 0.25, Count = held.Count + 1,
            Bounds = PercentileBounds.Within(0.25, 80),
        };
        await UpsertRowsAsync([held, Row("b", T0, p95: 60)]);
        var written = await UpsertRowsAsync([closed, Row("b", T0, p95: 60, final: true)]);
        Assert.Equal(written, written.Changed);

        Assert.Equal(closed, await Store.LatestAsync("a"));
        Assert.Equal(Row("b", T0, p95: 60, final: true), await Store.LatestAsync("b"));
        Assert.Equal(["a", "b"], (await Store.TopAsync(T0, RankBy.P95, 10)).Select(r => r.DeviceId));
    }

    /// <summary>
    /// A device restored from an older snapshot replays records and makes a stored window's row again: the same
    /// revision and form, made later. The store keeps what it had, and says it took nothing, so that nothing
    /// downstream (the results topic) takes the copy for the stored row.
    /// </summary>
    [Fact]
    public async Task A_replays_copy_of_a_stored_revision_is_not_taken_and_says_so()
    {
        var stored = Row("a", T0, p95: 70, revision: 1, final: true);
        var copy = stored with { LastUpdated = stored.LastUpdated + 9 * 1000 };
        Assert.Equal([stored], (await UpsertRowsAsync([stored])).Changed);

        var written = await UpsertRowsAsync([copy, Row("b", T0, p95: 60)]);

        Assert.Equal([copy, Row("b", T0, p95: 60)], written);
        Assert.Equal([Row("b", T0, p95: 60)], written.Changed);
        Assert.Equal(stored, await Store.LatestAsync("a"));
    }

    [Fact]
    public async Task Final_beats_non_final_at_the_same_revision_and_not_the_other_way()
    {
        await UpsertRowsAsync([Row("a", T0, p95: 70, revision: 2)]);
        await UpsertRowsAsync([Row("a", T0, p95: 71, revision: 2, final: true)]);
        await UpsertRowsAsync([Row("a", T0, p95: 72, revision: 2)]);

        Assert.Equal(Row("a", T0, p95: 71, revision: 2, final: true), await Store.LatestAsync("a"));
    }

    [Fact]
    public async Task Within_one_batch_the_highest_revision_wins_whatever_the_order()
    {
        await UpsertRowsAsync([Row("a", T0, p95: 1, revision: 1), Row("a", T0, p95: 3, revision: 3), Row("a", T0, p95: 2, revision: 2)]);

        Assert.Equal(Row("a", T0, p95: 3, revision: 3), await Store.LatestAsync("a"));
    }

    [Fact]
    public async Task A_non_finite_figure_is_refused_and_nothing_of_the_batch_is_written()
    {
        var bad = Row("b", T0) with { P99 = double.NaN };

        await Assert.ThrowsAsync<ArgumentException>(() => UpsertRowsAsync([Row("a", T0), bad]));
        Assert.Null(await Store.LatestAsync("a"));
    }

    [Fact]
    public async Task Latest_is_the_row_with_the_latest_window_end_and_null_for_an_unknown_device()
    {
        await UpsertRowsAsync([Row("a", T0 + 2 * Minute), Row("a", T0 + 5 * Minute), Row("b", T0 + 9 * Minute)]);
        await UpsertRowsAsync([Row("a", T0 + Minute, revision: 4)]);

        Assert.Equal(T0 + 5 * Minute, (await Store.LatestAsync("a"))!.WindowEnd);
        Assert.Null(await Store.LatestAsync("nobody"));
    }

    [Fact]
    public async Task History_pages_run_newest_first_through_every_row_once_and_the_last_has_no_cursor()
    {
        var rows = Enumerable.Range(0, 9).Select(i => Row("a", T0 + i * Minute)).ToArray();
        await UpsertRowsAsync([.. rows, Row("b", T0 + 3 * Minute)]);

        var seen = new List<WindowResult>();
        HistoryCursor? cursor = null;
        var pages = 0;
        do
        {
            var page = await Store.HistoryAsync("a", null, null, 3, cursor);
            Assert.True(page.Items.Count <= 3);
            seen.AddRange(page.Items);
            cursor = page.Next;
            pages++;
        }
        while (cursor is not null);

        Assert.Equal(3, pages);
        Assert.Equal(rows.Reverse(), seen);
    }

    [Fact]
    public async Task History_from_and_to_are_inclusive_bounds_on_window_end_and_combine_with_the_cursor()
    {
        await UpsertRowsAsync(Enumerable.Range(0, 10).Select(i => Row("a", T0 + i * Minute)).ToArray());

        var page = await Store.HistoryAsync("a", T0 + 2 * Minute, T0 + 7 * Minute, 4, null);
        Assert.Equal([7L, 6, 5, 4], page.Items.Select(r => (r.WindowEnd - T0) / Minute));
        Assert.NotNull(page.Next);

        var rest = await Store.HistoryAsync("a", T0 + 2 * Minute, T0 + 7 * Minute, 4, page.Next);
        Assert.Equal([3L, 2], rest.Items.Select(r => (r.WindowEnd - T0) / Minute));
        Assert.Null(rest.Next);

        Assert.Equal([9L], (await Store.HistoryAsync("a", T0 + 9 * Minute, null, 10, null)).Items.Select(r => (r.WindowEnd - T0) / Minute));
        Assert.Equal([0L], (await Store.HistoryAsync("a", null, T0, 10, null)).Items.Select(r => (r.WindowEnd - T0) / Minute));
        Assert.Empty((await Store.HistoryAsync("a", T0 + 5 * Minute, T0 + 4 * Minute, 10, null)).Items);
        Assert.Empty((await Store.HistoryAsync("nobody", null, null, 10, null)).Items);
    }

    [Fact]
    public async Task Top_ranks_highest_first_with_ties_by_device_id_ordinal_within_one_window()
    {
        // "B" < "a" < "b" ordinally; a locale-aware collation would put "a" first.
        await UpsertRowsAsync(
        [
            Row("a", T0, p95: 90), Row("b", T0, p95: 90), Row("B", T0, p95: 90), Row("c", T0, p95: 95),
            Row("d", T0, p95: 10), Row("e", T0 + Minute, p95: 99), Row("f", T0 - Minute, p95: 99),
        ]);

        var top = await Store.TopAsync(T0, RankBy.P95, 4);
        Assert.Equal(["c", "B", "a", "b"], top.Select(r => r.DeviceId));
        Assert.Equal(5, (await Store.TopAsync(T0, RankBy.P95, 1000)).Count);
        Assert.Equal(["c"], (await Store.TopAsync(T0, RankBy.P95, 1)).Select(r => r.DeviceId));
        Assert.Empty(await Store.TopAsync(T0 + 30 * Minute, RankBy.P95, 10));
    }

    [Theory]
    [InlineData(RankBy.P50)]
    [InlineData(RankBy.P90)]
    [InlineData(RankBy.P95)]
    [InlineData(RankBy.P99)]
    [InlineData(RankBy.Max)]
    [InlineData(RankBy.Mean)]
    public async Task Top_ranks_by_the_figure_asked_for(RankBy by)
    {
        // The asked figure runs opposite to p95, so ranking by the wrong column gives the reverse order.
        var rows = Enumerable.Range(0, 6)
            .Select(i => Row($"d{i}", T0, p95: 90 - i) with
            {
                P50 = i, P90 = i, P99 = i, Max = i, Mean = i, P95 = by == RankBy.P95 ? i : 90 - i,
            })
            .ToArray();
        await UpsertRowsAsync(rows);

        var top = await Store.TopAsync(T0, by, 3);

        Assert.Equal(["d5", "d4", "d3"], top.Select(r => r.DeviceId));
        Assert.Equal(rows.OrderBy(r => r, by.Comparer()).Take(3), top);
    }

    [Fact]
    public async Task Concurrent_overlapping_batches_neither_fail_nor_lose_the_highest_revision()
    {
        // Each writer sends the same keys in its own order and with its own revisions: without one lock order
        // PostgreSQL would deadlock, and without one writer SQLite would answer SQLITE_BUSY.
        var keys = Enumerable.Range(0, 40).Select(i => ($"d{i % 8}", T0 + i / 8 * Minute)).ToArray();
        var writers = Enumerable.Range(1, 6).Select(writer => Task.Run(async () =>
        {
            for (var round = 0; round < 10; round++)
            {
                var order = writer % 2 == 0 ? keys : keys.Reverse();
                await UpsertRowsAsync(order.Select(k => Row(k.Item1, k.Item2, revision: writer * 10 + round)).ToArray());
                await Store.LatestAsync("d3");
            }
        }));

        await Task.WhenAll(writers);

        foreach (var (device, windowEnd) in keys)
        {
            var history = await Store.HistoryAsync(device, windowEnd, windowEnd, 10, null);
            Assert.Equal(69, Assert.Single(history.Items).Revision);
        }
    }

    /// <summary>The same parts, digests compared by their bytes.</summary>
    private static void AssertParts(IEnumerable<WindowPart> expected, IEnumerable<WindowPart> actual) =>
        Assert.Equal(
            expected.Select(p => (p.Partition, p.Row, Convert.ToHexString(p.Digest))),
            actual.Select(p => (p.Partition, p.Row, Convert.ToHexString(p.Digest))));

    /// <summary>A part as a device's windows on <paramref name="partition"/> give it: figures from a digest of real values.</summary>
    protected static WindowPart Part(string device, long windowEnd, int partition, int revision, bool final, int seed, int values = 200)
    {
        var random = new Random(seed);
        var digest = new TDigest();
        for (var i = 0; i < values; i++) digest.Add(random.Next(0, 10_001) / 100.0);
        var merged = TDigest.MergeAll([digest]);
        return new WindowPart(partition, WindowResult.Of(device, windowEnd - 30 * Minute, windowEnd, merged, revision, final, windowEnd + seed), merged.ToBytes());
    }

    [Fact]
    public async Task A_database_made_before_rows_carried_bounds_gets_their_columns_and_serves_old_rows_within_min_and_max()
    {
        const string bounds = "p50_low, p50_high, p90_low, p90_high, p95_low, p95_high, p99_low, p99_high";
        foreach (var table in new[] { "window_results", "window_parts" })
        {
            foreach (var column in bounds.Split(", "))
            {
                await _fixture.ExecuteAsync($"ALTER TABLE {table} DROP COLUMN {column}");
            }
        }

        await _fixture.ExecuteAsync(
            "INSERT INTO window_results (device_id, window_end, window_start, p50, p90, p95, p99, min, max, mean, count, revision, final, last_updated) "
            + $"VALUES ('a', {T0}, {T0 - 30 * Minute}, 10, 20, 30, 40, 1.5, 60, 25, 100, 1, FALSE, 0)");

        await Store.EnsureSchemaAsync();
        await Store.EnsureSchemaAsync();

        Assert.Equal(PercentileBounds.Within(1.5, 60), (await Store.LatestAsync("a"))!.Bounds);
        var revised = Part("a", T0, 0, 2, false, 7);
        await Store.UpsertAsync([revised]);
        Assert.Equal(revised.Row, await Store.LatestAsync("a"));
        Assert.NotEqual(PercentileBounds.Within(revised.Row.Min, revised.Row.Max), revised.Row.Bounds);
    }

    [Fact]
    public async Task Parts_of_one_window_written_in_separate_transactions_give_the_merged_row()
    {
        var parts = new[] { Part("a", T0, 4, 1, false, 1), Part("a", T0, 0, 2, true, 2, values: 30), Part("a", T0, 9, 1, false, 3, values: 1) };

        Assert.Equal([parts[0].Row], await Store.UpsertAsync([parts[0]]));
        Assert.Equal(parts[0].Row, await Store.LatestAsync("a"));

        for (var i = 1; i < parts.Length; i++)
        {
            var merged = WindowPart.Merge(parts.Take(i + 1).OrderBy(p => p.Partition).ToList());
            Assert.Equal([merged], await Store.UpsertAsync([parts[i]]));
            Assert.Equal(merged, await Store.LatestAsync("a"));
        }

        var row = (await Store.LatestAsync("a"))!;
        Assert.Equal((231L, 4, false), (row.Count, row.Revision, row.Final));
    }

    /// <summary>
    /// Keyed producers: every window has one part. Its row keeps it, the parts table gets nothing, and the part reads
    /// back whole (for a reconcile, for the fleet) through every revision and the closing.
    /// </summary>
    [Fact]
    public async Task A_window_of_one_partition_keeps_its_part_in_its_row_and_none_in_the_parts()
    {
        var a = Part("a", T0, 3, 1, false, 1);
        var b = Part("b", T0, 5, 1, false, 2, values: 20);
        await Store.UpsertAsync([a, b]);
        var revised = Part("a", T0, 3, 2, false, 3);
        var closed = revised with { Row = revised.Row with { Final = true, LastUpdated = revised.Row.LastUpdated + 1 } };
        await Store.UpsertAsync([revised]);
        await Store.UpsertAsync([closed, b]);

        Assert.Equal(0, await _fixture.CountAsync("SELECT count(*) FROM window_parts"));
        Assert.Equal(2, await _fixture.CountAsync("SELECT count(*) FROM window_results WHERE kafka_partition IS NOT NULL"));
        Assert.Equal(closed.Row, await Store.LatestAsync("a"));
        AssertParts([closed], await Store.PartsAsync([("a", T0), ("b", T0)], 3));
        AssertParts([b], await Store.PartsAsync([("a", T0), ("b", T0)], 5));
        Assert.Empty(await Store.PartsAsync([("a", T0), ("b", T0)], 4));
        Assert.Equal(closed.Row.Count + b.Row.Count, (await Store.FleetAsync(T0))!.Count);
    }

    /// <summary>
    /// A window whose row keeps one partition's part gets another partition's: both parts end in the parts table, the
    /// row keeps none and is their merge, and a later revision of either part revises the merge.
    /// </summary>
    [Fact]
    public async Task A_window_that_gets_a_second_partition_moves_its_kept_part_to_the_parts()
    {
        var first = Part("a", T0, 2, 3, false, 1);
        await Store.UpsertAsync([first]);
        var second = Part("a", T0, 7, 1, false, 2, values: 30);
        Assert.Equal([WindowPart.Merge([first, second])], await Store.UpsertAsync([second]));

        Assert.Equal(2, await _fixture.CountAsync("SELECT count(*) FROM window_parts"));
        Assert.Equal(0, await _fixture.CountAsync("SELECT count(*) FROM window_results WHERE kafka_partition IS NOT NULL OR digest IS NOT NULL"));
        AssertParts([first], await Store.PartsAsync([("a", T0)], 2));

        var revised = Part("a", T0, 2, 4, true, 3);
        await Store.UpsertAsync([revised]);
        Assert.Equal(WindowPart.Merge([revised, second]), await Store.LatestAsync("a"));
        Assert.Equal(revised.Row.Count + second.Row.Count, (await Store.FleetAsync(T0))!.Count);
    }

    /// <summary>
    /// Windows stored before rows kept parts have their parts in the parts table and rows that keep none. They go on
    /// as they were: a newer revision of the same part revises the part there, and another partition's part merges.
    /// </summary>
    [Fact]
    public async Task Windows_stored_with_their_parts_in_the_parts_table_are_revised_and_merged_there()
    {
        var old = Part("a", T0, 1, 1, false, 1);
        var single = Part("b", T0, 1, 1, false, 2);
        await Store.UpsertAsync([old, single]);
        // The layout every earlier version wrote.
        const string columns = "device_id, window_end, window_start, p50, p90, p95, p99, min, max, mean, count, revision, final, last_updated, "
            + "p50_low, p50_high, p90_low, p90_high, p95_low, p95_high, p99_low, p99_high, kafka_partition, digest";
        await _fixture.ExecuteAsync($"INSERT INTO window_parts ({columns}) SELECT {columns} FROM window_results");
        await _fixture.ExecuteAsync("UPDATE window_results SET kafka_partition = NULL, digest = NULL");

        var revised = Part("a", T0, 1, 2, false, 3);
        Assert.Equal([revised.Row], await Store.UpsertAsync([revised]));
        Assert.Equal(revised.Row, await Store.LatestAsync("a"));
        AssertParts([revised], await Store.PartsAsync([("a", T0)], 1));
        Assert.Equal(0, await _fixture.CountAsync("SELECT count(*) FROM window_results WHERE kafka_partition IS NOT NULL"));

        var other = Part("a", T0, 4, 1, false, 4, values: 10);
        await Store.UpsertAsync([other]);
        Assert.Equal(WindowPart.Merge([revised, other]), await Store.LatestAsync("a"));
        Assert.Equal(single.Row, await Store.LatestAsync("b"));
        Assert.Equal(revised.Row.Count + other.Row.Count + single.Row.Count, (await Store.FleetAsync(T0))!.Count);
    }

    [Fact]
    public async Task Rewriting_parts_changes_nothing_and_a_newer_part_revises_the_merged_row()
    {
        var parts = new[] { Part("a", T0, 0, 1, false, 1), Part("a", T0, 1, 1, false, 2), Part("b", T0, 1, 1, false, 3) };
        await Store.UpsertAsync(parts);
        var merged = WindowPart.Merge([parts[0], parts[1]]);
        Assert.Equal(merged, await Store.LatestAsync("a"));

        Assert.Equal([merged, parts[2].Row], await Store.UpsertAsync([parts[1], parts[2], parts[0]]));
        Assert.Equal([merged, parts[2].Row], await Store.UpsertAsync([parts[1] with { Row = parts[1].Row with { Revision = 0 } }, parts[2]]));
        Assert.Equal(merged, await Store.LatestAsync("a"));
        Assert.Equal(parts[2].Row, await Store.LatestAsync("b"));

        var revised = Part("a", T0, 1, 2, true, 4);
        await Store.UpsertAsync([revised]);
        Assert.Equal(WindowPart.Merge([parts[0], revised]), await Store.LatestAsync("a"));
        Assert.Equal((3, false), ((await Store.LatestAsync("a"))!.Revision, (await Store.LatestAsync("a"))!.Final));
    }

    [Fact]
    public async Task Writers_of_different_parts_of_the_same_windows_at_once_leave_every_row_merged_from_all_parts()
    {
        // One writer per partition, as nodes consuming different partitions are: each writes its part of
        // every window in batches of its own, all at the same time. Whichever commits last must see the others.
        const int partitions = 4;
        var windows = Enumerable.Range(0, 24).Select(i => ($"d{i % 6}", T0 + i / 6 * Minute)).ToArray();
        var parts = Enumerable.Range(0, partitions)
            .Select(p => windows.Select((w, i) => Part(w.Item1, w.Item2, p, 1 + p % 2, false, 100 * p + i, values: 20 + p)).ToArray())
            .ToArray();
        await Task.WhenAll(parts.Select((mine, p) => Task.Run(async () =>
        {
            foreach (var batch in (p % 2 == 0 ? mine : mine.Reverse()).Chunk(5))
            {
                await Store.UpsertAsync(batch);
            }
        })));

        foreach (var (device, windowEnd) in windows)
        {
            var expected = WindowPart.Merge(parts.Select(mine => mine.Single(x => x.Row.DeviceId == device && x.Row.WindowEnd == windowEnd)).ToList());
            var stored = Assert.Single((await Store.HistoryAsync(device, windowEnd, windowEnd, 10, null)).Items);
            Assert.Equal(expected, stored);
            Assert.Equal(6, stored.Revision);
        }
    }

    [Fact]
    public async Task Recent_window_ends_are_distinct_and_newest_first()
    {
        await UpsertRowsAsync([Row("a", T0), Row("b", T0), Row("a", T0 + Minute), Row("c", T0 + 3 * Minute)]);

        Assert.Equal([T0 + 3 * Minute, T0 + Minute], await Store.RecentWindowEndsAsync(2));
        Assert.Equal([T0 + 3 * Minute, T0 + Minute, T0], await Store.RecentWindowEndsAsync(10));
    }

    [Fact]
    public async Task Progress_is_saved_overwritten_and_loaded_by_key()
    {
        Assert.Null(await Store.LoadProgressAsync("partition-3"));

        await Store.SaveProgressAsync("partition-3", "offset=10");
        await Store.SaveProgressAsync("partition-3", "offset=42");
        await Store.SaveProgressAsync("partition-4", "offset=7");

        Assert.Equal("offset=42", await Store.LoadProgressAsync("partition-3"));
        Assert.Equal("offset=7", await Store.LoadProgressAsync("partition-4"));
    }

    [Fact]
    public async Task Progress_given_with_rows_is_written_in_the_same_transaction()
    {
        await UpsertRowsAsync([Row("a", T0)], [new("projection", "17")]);
        Assert.Equal("17", await Store.LoadProgressAsync("projection"));

        // A failing batch leaves the stored progress as it was.
        var valid = SinglePart.Of(Row("a", T0));
        var broken = valid with { Row = valid.Row with { Mean = double.PositiveInfinity } };
        await Assert.ThrowsAsync<ArgumentException>(() => Store.UpsertAsync([broken], [new("projection", "18")]));
        Assert.Equal("17", await Store.LoadProgressAsync("projection"));
    }

    [Fact]
    public async Task Ping_answers_and_schema_creation_can_run_again()
    {
        await Store.EnsureSchemaAsync();
        await Store.PingAsync();
    }

    [Fact]
    public async Task Rows_stay_owed_to_the_results_topic_until_what_was_produced_covers_them()
    {
        var a1 = Row("a", T0, revision: 1);
        var b1 = Row("b", T0, revision: 1, final: true);
        await UpsertRowsAsync([a1, b1]);
        Assert.Equal([a1, b1], await Store.OwedResultsAsync(long.MaxValue, long.MaxValue, 100));
        // A row not final and updated at or after the cut is left to the node producing it; a final one waits for its close.
        Assert.Equal([b1], await Store.OwedResultsAsync(a1.LastUpdated, long.MaxValue, 100));
        Assert.Equal([a1], await Store.OwedResultsAsync(long.MaxValue, T0 - 1, 100));
        Assert.Equal([a1], await Store.OwedResultsAsync(long.MaxValue, long.MaxValue, 1));

        // A later revision stored after a1 was produced stays owed; b, produced before it could say final, too.
        var a2 = Row("a", T0, revision: 2);
        await UpsertRowsAsync([a2]);
        await Store.ResultsProducedAsync([a1, b1 with { Final = false }]);
        Assert.Equal([a2, b1], await Store.OwedResultsAsync(long.MaxValue, long.MaxValue, 100));

        await Store.ResultsProducedAsync([a2, b1]);
        Assert.Empty(await Store.OwedResultsAsync(long.MaxValue, long.MaxValue, 100));
    }

    [Fact]
    public async Task Two_produced_forms_of_one_window_take_it_off_if_either_covers_it()
    {
        var a1 = Row("a", T0, revision: 1);
        var a2 = Row("a", T0, revision: 2);
        var b1 = Row("b", T0, revision: 1, final: true);
        await UpsertRowsAsync([a2, b1]);

        await Store.ResultsProducedAsync([a2, a1, b1 with { Final = false }, b1 with { Final = false }]);
        Assert.Equal([b1], await Store.OwedResultsAsync(long.MaxValue, long.MaxValue, 100));
    }

    [Fact]
    public async Task Fleet_figures_merge_every_part_of_the_window_and_nothing_of_other_windows()
    {
        await UpsertRowsAsync([Row("a", T0, p95: 10), Row("b", T0, p95: 90), Row("a", T0 + Minute, p95: 70)]);
        // Device c's records came on two partitions: two parts of one row.
        var c0 = Row("c", T0, p95: 30, other: 30) with { Min = 30, Max = 30, Mean = 30, Count = 5 };
        var c1 = Row("c", T0, p95: 60, other: 60) with { Min = 60, Max = 60, Mean = 60, Count = 15 };
        await Store.UpsertAsync([SinglePart.Of(c0, partition: 0), SinglePart.Of(c1, partition: 1)]);

        var fleet = await Store.FleetAsync(T0);
        Assert.NotNull(fleet);
        Assert.Equal((T0 - 30 * Minute, T0, 3, 1001L + 1001 + 20), (fleet.WindowStart, fleet.WindowEnd, fleet.Devices, fleet.Count));
        Assert.Equal((0.5, 92.0), (fleet.Min, fleet.Max));
        Assert.Equal((1001 * 10 / 3.0 + 1001 * 90 / 3.0 + 5 * 30 + 15 * 60) / 2022, fleet.Mean, 9);
        Assert.Null(await Store.FleetAsync(T0 + 2 * Minute));
    }

    [Fact]
    public async Task Top_n_latest_and_history_are_answered_through_indexes()
    {
        // Enough rows that a planner with statistics would scan the table if no index served the query.
        const int devices = 300;
        const int windows = 20;
        var rows = Enumerable.Range(0, windows)
            .SelectMany(w => Enumerable.Range(0, devices).Select(d => Row($"device-{d}", T0 + w * Minute, p95: (d * 37 + w) % 100, other: (d * 53 + w) % 100)))
            .ToArray();
        await UpsertRowsAsync(rows);
        // A second partition's part of every window: the parts move to window_parts, as with unkeyed producers, so that
        // the queries over that table below meet a table of the size they are for.
        await Store.UpsertAsync(rows.Select(r => SinglePart.Of(r, partition: 1)).ToList());
        await _fixture.AnalyzeAsync();

        foreach (var by in Enum.GetValues<RankBy>())
        {
            var plan = await Store.ExplainTopAsync(T0 + 5 * Minute, by, 10);
            Assert.Contains(SqlResultStore.TopIndexOf(by), plan, StringComparison.Ordinal);
            AssertIndexUse(plan);
            // The index gives the order: no sort step after it.
            Assert.DoesNotContain(_fixture.IsPostgres ? "Sort" : "TEMP B-TREE", plan, StringComparison.Ordinal);
        }

        foreach (var plan in new[]
                 {
                     await Store.ExplainLatestAsync("device-7"),
                     await Store.ExplainHistoryAsync("device-7", new HistoryCursor(T0 + 10 * Minute)),
                 })
        {
            Assert.Contains(_fixture.IsPostgres ? "window_results_pkey" : "sqlite_autoindex_window_results_1", plan, StringComparison.Ordinal);
            AssertIndexUse(plan);
            Assert.DoesNotContain(_fixture.IsPostgres ? "Sort" : "TEMP B-TREE", plan, StringComparison.Ordinal);
        }

        // A batch with windows that turn out shared asks which have more than one part: a probe of the parts' key per window.
        var shared = await Store.ExplainSharedPartsAsync([("device-7", T0), ("device-8", T0 + Minute)]);
        Assert.Contains(_fixture.IsPostgres ? "window_parts_pkey" : "sqlite_autoindex_window_parts_1", shared, StringComparison.Ordinal);
        AssertIndexUse(shared);

        // The fleet figures of a window find its rows through a top-N index, never a scan of the rows. SQLite
        // then probes the parts by key; PostgreSQL, on a table this small, hashes a scan of the parts instead
        // (cheaper here by its statistics; at the size of a real store a probe per row is).
        var fleet = await Store.ExplainFleetAsync(T0 + 5 * Minute);
        Assert.True(fleet.Contains("window_results_top_", StringComparison.Ordinal), fleet);
        Assert.DoesNotContain(_fixture.IsPostgres ? "Seq Scan on window_results" : "SCAN r", fleet, StringComparison.Ordinal);
        if (!_fixture.IsPostgres) Assert.True(fleet.Contains("SEARCH p USING INDEX sqlite_autoindex_window_parts_1", StringComparison.Ordinal), fleet);
    }

    private void AssertIndexUse(string plan)
    {
        if (_fixture.IsPostgres)
        {
            Assert.Contains("Index", plan, StringComparison.Ordinal);
            Assert.DoesNotContain("Seq Scan", plan, StringComparison.Ordinal);
        }
        else
        {
            Assert.Matches("USING (COVERING )?INDEX", plan);
        }
    }
}

public sealed class SqliteResultStoreTests(SqliteStoreFixture fixture)
    : ResultStoreTests(fixture), IClassFixture<SqliteStoreFixture>
{
    /// <summary>
    /// A window closing unchanged leaves the ranked figures out of its update: SQLite rewrites a row's entry in
    /// every index whose columns an UPDATE sets, equal values or not, and six top-N indexes made closings the
    /// dearest rows to store. A trigger on those columns fires exactly when an update names one of them.
    /// </summary>
    [Fact]
    public async Task A_window_closing_unchanged_does_not_rewrite_its_ranked_figures_and_a_revision_does()
    {
        const long end = 1_764_307_800_000;
        // Every figure a client can rank by has a top-N index on its column of the same name.
        var ranked = string.Join(", ", Enum.GetValues<RankBy>().Select(by => by.Name()));
        await fixture.ExecuteAsync($"""
            CREATE TABLE IF NOT EXISTS figure_writes (device_id TEXT);
            DELETE FROM figure_writes;
            CREATE TRIGGER IF NOT EXISTS figure_written AFTER UPDATE OF {ranked} ON window_results
            BEGIN INSERT INTO figure_writes VALUES (new.device_id); END;
            """);
        try
        {
            await fixture.Store.UpsertAsync(SinglePart.Of([Row("a", end, p95: 70), Row("b", end, p95: 70)]));
            await fixture.Store.UpsertAsync(SinglePart.Of([Row("a", end, p95: 70, final: true), Row("b", end, p95: 75, revision: 2)]));
            Assert.Equal(["b"], await FigureWritesAsync());

            // The final form of a revision with other figures than the stored ones is upserted like any row.
            await fixture.Store.UpsertAsync(SinglePart.Of([Row("b", end, p95: 76, revision: 2, final: true)]));
            Assert.Equal(["b", "b"], await FigureWritesAsync());
            Assert.Equal(Row("b", end, p95: 76, revision: 2, final: true), await fixture.Store.LatestAsync("b"));
        }
        finally
        {
            await fixture.ExecuteAsync("DROP TRIGGER figure_written; DROP TABLE figure_writes;");
        }
    }

    private async Task<List<string>> FigureWritesAsync()
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection(fixture.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT device_id FROM figure_writes ORDER BY rowid";
        var devices = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) devices.Add(reader.GetString(0));
        return devices;
    }

    /// <summary>
    /// The snapshot table writes the same file with synchronous=FULL through the same connection pool: rows
    /// written on a connection it had last were fsynced at every batch, and checkpointed at its page count.
    /// </summary>
    [Fact]
    public async Task Rows_are_written_with_the_store_s_own_settings_while_the_snapshot_table_writes_the_same_file()
    {
        var path = Path.Combine(Path.GetTempPath(), $"mc-store-writer-{Guid.NewGuid():N}.db");
        // Not the defaults, so that the settings are seen to be the ones applied.
        var tuning = new MetricsCollector.Configuration.SqliteSettings(CacheMib: 3, CheckpointPages: 777);
        try
        {
            await using (var store = new SqliteResultStore($"Data Source={path}", tuning))
            await using (var snapshots = new SqliteSnapshotTable($"Data Source={path}", tuning.CheckpointPages))
            {
                await store.EnsureSchemaAsync();
                await snapshots.EnsureSchemaAsync();
                for (var i = 0; i < 3; i++)
                {
                    await store.UpsertAsync([Part("d", 60_000 * (i + 1), 0, 0, false, i)]);
                    await snapshots.WriteAsync([new StoredSnapshot("device-d", 0, i, 1, "", [1, 2, 3])], CancellationToken.None);
                }

                // 1 is NORMAL: a committed row survives a crash of the process, the snapshots' fsync makes it survive a power loss.
                Assert.Equal("1", await store.WriteConnectionSettingAsync("synchronous"));
                Assert.Equal("777", await store.WriteConnectionSettingAsync("wal_autocheckpoint"));
                Assert.Equal("-3072", await store.WriteConnectionSettingAsync("cache_size"));
                Assert.Equal(3, (await store.HistoryAsync("d", null, null, 10, null)).Items.Count);

                // A write that fails inside its transaction (a value missing) leaves the next writes working, with the same settings.
                await Assert.ThrowsAsync<InvalidOperationException>(() => store.SaveProgressAsync("p", null!));
                // The snapshot table writes in between: it must not be able to set the rows' next connection to FULL.
                await snapshots.WriteAsync([new StoredSnapshot("device-d", 0, 9, 1, "", [4])], CancellationToken.None);
                await store.UpsertAsync([Part("d", 60_000 * 4, 0, 0, false, 4)]);
                Assert.Equal(4, (await store.HistoryAsync("d", null, null, 10, null)).Items.Count);
                Assert.Equal("1", await store.WriteConnectionSettingAsync("synchronous"));
            }
        }
        finally
        {
            foreach (var file in new[] { path, path + "-wal", path + "-shm" }) File.Delete(file);
        }
    }
}

public sealed class PostgresResultStoreTests(PostgresStoreFixture fixture)
    : ResultStoreTests(fixture), IClassFixture<PostgresStoreFixture>
{
    [Fact]
    public async Task An_unreachable_server_is_reported_as_store_unavailable()
    {
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(PostgresStoreFixture.ServerConnectionString) { Port = 1, Timeout = 2 };
        await using var store = new PostgresResultStore(builder.ToString());

        await Assert.ThrowsAsync<StoreUnavailableException>(() => store.PingAsync());
        await Assert.ThrowsAsync<StoreUnavailableException>(() => store.LatestAsync("a"));
    }

    [Theory]
    [InlineData(70)]
    [InlineData(100)]
    public async Task The_fill_factor_is_set_on_the_updated_tables_at_every_start(int fillFactor)
    {
        await using var store = new PostgresResultStore(fixture.DatabaseConnectionString, fillFactor);
        await store.EnsureSchemaAsync();

        await using var connection = new Npgsql.NpgsqlConnection(fixture.DatabaseConnectionString);
        await connection.OpenAsync();
        await using var query = new Npgsql.NpgsqlCommand(
            "SELECT relname, array_to_string(reloptions, ',') FROM pg_class WHERE relname IN ('window_results', 'window_parts') ORDER BY relname", connection);
        await using var reader = await query.ExecuteReaderAsync();
        var options = new List<string>();
        while (await reader.ReadAsync()) options.Add($"{reader.GetString(0)}: {reader.GetString(1)}");
        Assert.Equal([$"window_parts: fillfactor={fillFactor}", $"window_results: fillfactor={fillFactor}"], options);
    }
}
