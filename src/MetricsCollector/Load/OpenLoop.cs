using System.Diagnostics;
using HdrHistogram;

namespace MetricsCollector.Load;

/// <summary>
/// Open-loop pacing: operation i is started at start + i/rate whatever earlier operations are doing, and
/// is handed its due time, so that its latency can be timed from the schedule rather than from the moment
/// it actually left (coordinated omission, as wrk2 corrects it: a stall then shows in every operation it
/// delayed, not only in the one that was in flight).
/// </summary>
public static class OpenLoop
{
    /// <summary>
    /// Starts <paramref name="total"/> operations at <paramref name="rate"/> per second and waits for all of them.
    /// A dedicated thread paces them: Task.Delay and Thread.Sleep wake 1 to 2 ms late on Linux, which, timed
    /// from the schedule, would count the loader's own oversleep as the server's latency. Within 2 ms of the
    /// next start the thread yields instead of sleeping, giving the CPU to any runnable thread.
    /// </summary>
    /// <param name="start">Called on the pacing thread with the operation's index and due time (a <see cref="Stopwatch"/> timestamp); must not block.</param>
    /// <param name="behind">Records how late each start was against its schedule (the loader's own lag), in microseconds.</param>
    /// <returns>The time from the first due time to the last operation's end.</returns>
    public static async Task<TimeSpan> RunAsync(double rate, long total, Func<long, long, Task> start, HistogramBase behind, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rate);
        var started = new List<Task>((int)Math.Min(total, 1 << 20));
        var first = Stopwatch.GetTimestamp();
        var nearby = Stopwatch.Frequency / 500;
        var pacer = new Thread(() =>
        {
            for (long i = 0; i < total && !ct.IsCancellationRequested; i++)
            {
                var due = first + (long)(i * Stopwatch.Frequency / rate);
                for (var now = Stopwatch.GetTimestamp(); now < due; now = Stopwatch.GetTimestamp())
                {
                    if (due - now > nearby)
                    {
                        Thread.Sleep(1);
                    }
                    else
                    {
                        Thread.Yield();
                    }
                }

                LatencyHistogram.Record(behind, Stopwatch.GetElapsedTime(due));
                started.Add(start(i, due));
            }
        })
        {
            IsBackground = true,
            Name = "load pacer",
        };
        pacer.Start();
        await Task.Run(pacer.Join, CancellationToken.None);
        await Task.WhenAll(started);
        return Stopwatch.GetElapsedTime(first);
    }
}
