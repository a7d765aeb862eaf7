using MetricsCollector.Core.Reconciliation;

namespace MetricsCollector.Core.Tests.Reconciliation;

public sealed class ReconcileLedgerTests
{
    [Fact]
    public void A_record_is_applied_once_its_range_was_read_past_it()
    {
        var ledger = ReconcileLedger.Empty.With(100, 200, nextOffset: 10);

        Assert.True(ledger.Applied(9, 150));
        Assert.False(ledger.Applied(10, 150));   // not read yet
        Assert.False(ledger.Applied(5, 200));    // outside the range: the run passed it over
        Assert.False(ledger.Applied(5, 99));
        Assert.True(ledger.Applied(5, 100));
    }

    [Fact]
    public void Another_range_still_applies_what_an_earlier_run_passed_over()
    {
        var ledger = ReconcileLedger.Empty.With(100, 200, 10).With(200, 300, 4);

        Assert.True(ledger.Applied(3, 250));
        Assert.False(ledger.Applied(7, 250));
        Assert.True(ledger.Applied(7, 150));
    }

    [Fact]
    public void The_same_range_again_moves_its_offset_forward_only()
    {
        var ledger = ReconcileLedger.Empty.With(100, 200, 10).With(100, 200, 4).With(100, 200, 12);

        Assert.Equal([new ReconcileLedger.Run(100, 200, 12)], ledger.Runs);
    }

    [Fact]
    public void The_text_form_reads_back_the_same_ledger()
    {
        var ledger = ReconcileLedger.Empty.With(-5, 200, 10).With(200, 300, 0);

        var read = ReconcileLedger.Parse(ledger.ToString());

        Assert.Equal(ledger.Runs, read.Runs);
        Assert.Empty(ReconcileLedger.Parse(null).Runs);
    }

    [Theory]
    [InlineData("1:2")]
    [InlineData("2:1:5")]
    [InlineData("1:2:-1")]
    [InlineData("a:b:c")]
    public void A_damaged_text_form_is_refused(string text) =>
        Assert.Throws<FormatException>(() => ReconcileLedger.Parse(text));

    [Fact]
    public void An_empty_range_is_refused() =>
        Assert.Throws<ArgumentException>(() => ReconcileLedger.Empty.With(5, 5, 1));
}
