namespace MetricsCollector.Load;

/// <summary>
/// A long command's progress on standard error, so standard output keeps only results. On a terminal
/// one line is redrawn every second; redirected (a log file, CI), a plain line is written every few
/// seconds instead, so the file does not fill with carriage returns.
/// </summary>
public sealed class ConsoleProgress : IAsyncDisposable
{
    private readonly Func<string> _line;
    private readonly TextWriter _writer;
    private readonly bool _redraw;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _lastLength;

    private ConsoleProgress(Func<string> line, TextWriter writer, bool redraw, TimeSpan interval)
    {
        _line = line;
        _writer = writer;
        _redraw = redraw;
        _loop = LoopAsync(interval);
    }

    /// <summary>Shows <paramref name="line"/> until disposed; the last state is written once more at the end.</summary>
    public static ConsoleProgress Start(Func<string> line) =>
        Console.IsErrorRedirected
            ? new ConsoleProgress(line, Console.Error, redraw: false, TimeSpan.FromSeconds(5))
            : new ConsoleProgress(line, Console.Error, redraw: true, TimeSpan.FromSeconds(1));

    /// <summary>For tests and callers that write elsewhere: plain lines every <paramref name="interval"/>.</summary>
    public static ConsoleProgress Lines(Func<string> line, TextWriter writer, TimeSpan interval) => new(line, writer, redraw: false, interval);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
        Show();
        if (_redraw)
        {
            _writer.WriteLine();
        }

        await _writer.FlushAsync();
    }

    private async Task LoopAsync(TimeSpan interval)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                Show();
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed: the final line is written by DisposeAsync.
        }
    }

    private void Show()
    {
        var line = _line();
        if (_redraw)
        {
            // Pad over a longer previous line rather than rely on the terminal understanding an erase sequence.
            _writer.Write('\r' + line.PadRight(_lastLength));
            _lastLength = line.Length;
        }
        else
        {
            _writer.WriteLine(line);
        }

        _writer.Flush();
    }
}
