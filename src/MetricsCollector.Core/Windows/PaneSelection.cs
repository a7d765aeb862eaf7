using MetricsCollector.Core.Digests;

namespace MetricsCollector.Core.Windows;

/// <summary>
/// The inputs of one window build: live digests and idle panes' decimal runs (see
/// <see cref="PaneSet"/>) in pane order, gathered for <see cref="TDigest.MergeAllInto(ReadOnlySpan{MergeInput}, TDigest)"/>.
/// A build is short and a thread does one at a time, so each thread keeps one selection and
/// reuses its arrays: a window build allocates nothing for its inputs.
/// </summary>
internal sealed class PaneSelection
{
    [ThreadStatic] private static PaneSelection? t_free;

    private MergeInput[] _inputs = new MergeInput[32];
    private int _count;

    public ReadOnlySpan<MergeInput> Inputs => _inputs.AsSpan(0, _count);

    /// <summary>Whether anything was selected.</summary>
    public bool Any => _count > 0;

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
        Array.Clear(_inputs, 0, _count);
        _count = 0;
        t_free = this;
    }

    public void Add(MergeInput input)
    {
        if (_count == _inputs.Length) Array.Resize(ref _inputs, _count * 2);
        _inputs[_count++] = input;
    }
}
