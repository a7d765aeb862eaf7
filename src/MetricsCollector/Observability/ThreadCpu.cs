using System.Diagnostics;
using System.Runtime.InteropServices;

namespace MetricsCollector.Observability;

/// <summary>
/// The CPU time the calling thread has used, so that an actor's handling of a message is charged
/// with the CPU it took, not with the wall time it spent preempted on a busy machine. On Linux
/// this is the thread's own clock; elsewhere wall time stands in (and says so in the metric's help).
/// </summary>
internal static class ThreadCpu
{
    private const int ClockThreadCpuTime = 3;

    public static readonly bool Measured = OperatingSystem.IsLinux();

    /// <summary>
    /// What two back-to-back readings differ by: the clock's own cost inside every span it measures (about
    /// 1.4 µs on a KVM guest, where it is a system call). Spans are charged net of it, so that sampling
    /// few messages and weighting them does not also multiply the clock's cost into the estimate.
    /// </summary>
    private static readonly long Overhead = MeasureOverhead();

    /// <summary>A reading in nanoseconds; only differences of two readings on one thread mean anything.</summary>
    public static long Now()
    {
        if (Measured && ClockGetTime(ClockThreadCpuTime, out var now) == 0) return now.Seconds * 1_000_000_000 + now.Nanoseconds;
        return (long)(Stopwatch.GetTimestamp() * (1e9 / Stopwatch.Frequency));
    }

    /// <summary>The span of <paramref name="began"/> until now on this thread, less the clock's own cost.</summary>
    public static long Since(long began) => Math.Max(0, Now() - began - Overhead);

    private static long MeasureOverhead()
    {
        var gaps = new long[63];
        var last = Now();
        for (var i = 0; i < gaps.Length; i++)
        {
            var next = Now();
            gaps[i] = next - last;
            last = next;
        }
        Array.Sort(gaps);
        return gaps[gaps.Length / 2];
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);
}
