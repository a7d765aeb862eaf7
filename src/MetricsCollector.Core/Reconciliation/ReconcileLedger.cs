using System.Globalization;

namespace MetricsCollector.Core.Reconciliation;

/// <summary>
/// Which records of one too-late partition reconciliation has applied. A run applies the records whose event
/// time lies in its range, up to the offset it read to; the ledger keeps, per range, that next offset. A record
/// is applied already when some range holds its event time and that range's run read past it, so a run again
/// over the same range (after a kill too) skips what the last one applied, and a run over another range still
/// picks out of the records an earlier run passed over the ones of its own range.
/// Its text form (<see cref="ToString"/>, <see cref="Parse"/>) is what the store keeps, written in the same
/// transaction as the parts built from the records before the offsets.
/// </summary>
public sealed class ReconcileLedger
{
    private readonly IReadOnlyList<Run> _runs;

    private ReconcileLedger(IReadOnlyList<Run> runs) => _runs = runs;

    public static ReconcileLedger Empty { get; } = new([]);

    /// <summary>The ranges and how far each was read: [from, to) of event time (epoch ms), and the next offset.</summary>
    public IReadOnlyList<Run> Runs => _runs;

    public bool Applied(long offset, long eventTime) =>
        _runs.Any(r => offset < r.NextOffset && eventTime >= r.From && eventTime < r.To);

    /// <summary>The ledger once the run over [<paramref name="from"/>, <paramref name="to"/>) has read up to <paramref name="nextOffset"/>.</summary>
    public ReconcileLedger With(long from, long to, long nextOffset)
    {
        if (from >= to) throw new ArgumentException($"an empty range [{from}, {to})", nameof(from));
        var held = _runs.FirstOrDefault(r => r.From == from && r.To == to);
        var others = _runs.Where(r => r.From != from || r.To != to);
        var next = Math.Max(nextOffset, held?.NextOffset ?? long.MinValue);
        return new ReconcileLedger([.. others, new Run(from, to, next)]);
    }

    public override string ToString() =>
        string.Join(';', _runs.Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.From}:{r.To}:{r.NextOffset}")));

    /// <summary>Reads <see cref="ToString"/>'s form; null or empty is the empty ledger.</summary>
    public static ReconcileLedger Parse(string? text)
    {
        if (string.IsNullOrEmpty(text)) return Empty;
        var runs = new List<Run>();
        foreach (var entry in text.Split(';'))
        {
            var fields = entry.Split(':');
            if (fields.Length != 3
                || !long.TryParse(fields[0], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var from)
                || !long.TryParse(fields[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var to)
                || !long.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var next)
                || from >= to)
            {
                throw new FormatException($"not a reconcile ledger entry (from:to:next-offset): '{entry}'");
            }

            runs.Add(new Run(from, to, next));
        }

        return new ReconcileLedger(runs);
    }

    public sealed record Run(long From, long To, long NextOffset);
}
