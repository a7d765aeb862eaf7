using CsCheck;
using MetricsCollector.Partitions;

namespace MetricsCollector.Tests.Partitions;

/// <summary>
/// The side ledger against an exact model of a side-topic partition: owners of one source
/// partition come and go by crashes, deliveries land in any order (retries included) between
/// other source partitions' records, reports arrive late, commits wait for every report below them.
/// Whatever happens, each side record must be in the log once, and every mark must lie at or
/// below every record it covers.
/// </summary>
public sealed class SideLedgerTests
{
    private const int Source = 4;

    [Fact]
    public void Through_crashes_each_side_record_lands_once_and_every_mark_is_below_what_it_covers() =>
        Gen.Int.Sample(seed => new Scenario(seed).Run(), iter: 2_000, threads: 1);

    [Fact]
    public void Holds_what_an_earlier_owner_delivered_and_marks_no_higher_than_it()
    {
        var ledger = new SideLedger("t", 1, end: 50, new Dictionary<long, long> { [7] = 41, [9] = 40, [12] = 47 });
        Assert.True(ledger.Holds(9));
        Assert.False(ledger.Holds(8));
        Assert.Equal(new SideMark("t", 1, 40), ledger.MarkAt(8));
        Assert.Equal(47, ledger.MarkAt(10).Offset);
        ledger.Delivered(60);
        Assert.Equal(61, ledger.MarkAt(13).Offset);
    }

    private sealed class Scenario
    {
        private readonly Random _random;
        private readonly bool[] _diverted;
        private readonly List<(int Source, long SourceOffset)> _log = [];
        private readonly List<(long Checkpoint, long Mark)> _marks = [];
        private (long Offset, long Mark)? _committed;

        public Scenario(int seed)
        {
            _random = new Random(seed);
            _diverted = Enumerable.Range(0, _random.Next(1, 80)).Select(_ => _random.Next(3) == 0).ToArray();
            for (var i = _random.Next(4); i > 0; i--) Foreign();
        }

        public void Run()
        {
            for (var owners = _random.Next(4); owners > 0; owners--) Owner(crashes: true);
            Owner(crashes: false);

            for (long offset = 0; offset < _diverted.Length; offset++)
                Assert.Equal(_diverted[offset] ? 1 : 0, _log.Count(r => r == (Source, offset)));
            foreach (var (checkpoint, mark) in _marks)
                for (var i = 0; i < _log.Count; i++)
                    if (_log[i].Source == Source && _log[i].SourceOffset >= checkpoint)
                        Assert.True(i >= mark, $"record of offset {_log[i].SourceOffset} at {i}, below the mark {mark} of checkpoint {checkpoint}");
        }

        private void Owner(bool crashes)
        {
            var start = _committed?.Offset ?? 0;
            var found = new Dictionary<long, long>();
            if (_committed is { } committed)
                for (var i = (int)committed.Mark; i < _log.Count; i++)
                    if (_log[i].Source == Source) found.TryAdd(_log[i].SourceOffset, i);
            var ledger = new SideLedger("t", 0, _log.Count, found);
            var checkpoints = new List<(long Offset, long Mark)>();
            Checkpoint(ledger, checkpoints, start);
            // Without marks the partition saves its first ones before taking a record.
            _committed ??= checkpoints[0];

            var inFlight = new List<long>();
            var unreported = new List<(long SourceOffset, long SideOffset)>();
            var crashAt = crashes ? _random.Next((int)start, _diverted.Length + 1) : -1;
            for (var offset = start; offset <= _diverted.Length; offset++)
            {
                if (offset == crashAt)
                {
                    // Some of what was handed to the producer still lands; the rest is lost.
                    foreach (var sent in inFlight.Where(_ => _random.Next(2) == 0)) _log.Add((Source, sent));
                    return;
                }
                if (offset == _diverted.Length) break;
                for (var steps = _random.Next(4); steps > 0; steps--) Step(ledger, inFlight, unreported, checkpoints);
                if (_diverted[offset] && !ledger.Holds(offset)) inFlight.Add(offset);
                if (_random.Next(2) == 0) Checkpoint(ledger, checkpoints, offset + 1);
            }
            Checkpoint(ledger, checkpoints, _diverted.Length);
            while (inFlight.Count + unreported.Count > 0) Step(ledger, inFlight, unreported, checkpoints);
            Commit(checkpoints, inFlight, unreported);
        }

        private void Checkpoint(SideLedger ledger, List<(long Offset, long Mark)> checkpoints, long offset)
        {
            var mark = ledger.MarkAt(offset).Offset;
            checkpoints.Add((offset, mark));
            _marks.Add((offset, mark));
        }

        private void Step(SideLedger ledger, List<long> inFlight, List<(long SourceOffset, long SideOffset)> unreported, List<(long Offset, long Mark)> checkpoints)
        {
            switch (_random.Next(4))
            {
                case 0 when inFlight.Count > 0:
                    // Any order: a retry lands after records handed over later.
                    var sent = inFlight[_random.Next(inFlight.Count)];
                    inFlight.Remove(sent);
                    unreported.Add((sent, _log.Count));
                    _log.Add((Source, sent));
                    break;
                case 1 when unreported.Count > 0:
                    var report = unreported[_random.Next(unreported.Count)];
                    unreported.Remove(report);
                    ledger.Delivered(report.SideOffset);
                    break;
                case 2:
                    Foreign();
                    break;
                case 3:
                    Commit(checkpoints, inFlight, unreported);
                    break;
            }
        }

        /// <summary>Commits the latest checkpoint below every side record not yet reported delivered.</summary>
        private void Commit(List<(long Offset, long Mark)> checkpoints, List<long> inFlight, List<(long SourceOffset, long SideOffset)> unreported)
        {
            var safe = inFlight.Concat(unreported.Select(u => u.SourceOffset)).DefaultIfEmpty(long.MaxValue).Min();
            var eligible = checkpoints.Where(c => c.Offset <= safe).ToList();
            if (eligible.Count > 0) _committed = eligible[^1];
        }

        private void Foreign() => _log.Add((_random.Next(2) == 0 ? 1 : 7, _random.Next(80)));
    }
}
