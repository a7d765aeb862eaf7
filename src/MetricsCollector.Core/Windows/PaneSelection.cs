using MetricsCollector.Core.Digests;

namespace MetricsCollector.Core.Windows;

/// <summary>
/// The inputs of one window build: live digests and idle panes' decimal runs (see
/// <see cref="PaneSet"/>), gathered for <see cref="TDigest.MergeAllInto(ReadOnlySpan{TDigest}, ReadOnlySpan{DecimalRun}, TDigest)"/>.
/// A build is short and a thread does one at a time, so each thread keeps one selection and
/// reuses its arrays: a window build allocates nothing for its inputs.
/// </summary>
internal sealed class PaneSelection
{
    [ThreadStatic] private static PaneSelection? t_free;

    private TDigest[] _digests = new TDigest[4];
    private DecimalRun[] _runs = new DecimalRun[32];
    private int _digestCount;
    private int _runCount;

    public ReadOnlySpan<TDigest> Digests => _digests.AsSpan(0, _digestCount);

    public ReadOnlySpan<DecimalRun> Runs => _runs.AsSpan(0, _runCount);

    /// <summary>Whether anything was selected.</summary>
    public bool Any => _digestCount + _runCount > 0;

    /// <summary>The thread's selection, empty; a new one while the thread's is in use.</summary>
    public static PaneSelection Rent()
    {
        var selection = t_free ?? new PaneSelection();
        t_free = null;
        return selection;
    }

    /// <summary>Empties the selection (so that it holds no pane alive) and gives it back to the thread.</summary>
    public void Return()
    {
        Array.Clear(_digests, 0, _digestCount);
        Array.Clear(_runs, 0, _runCount);
        _digestCount = 0;
        _runCount = 0;
        t_free = this;
    }

    public void Add(TDigest digest)
    {
        if (_digestCount == _digests.Length) Array.Resize(ref _digests, _digestCount * 2);
        _digests[_digestCount++] = digest;
    }

    public void Add(DecimalRun run)
    {
        if (_runCount == _runs.Length) Array.Resize(ref _runs, _runCount * 2);
        _runs[_runCount++] = run;
    }
}
