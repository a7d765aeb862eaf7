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

    /// <summary>A reading in nanoseconds; only differences of two readings on one thread mean anything.</summary>
    public static long Now()
    {
        if (Measured && ClockGetTime(ClockThreadCpuTime, out var now) == 0) return now.Seconds * 1_000_000_000 + now.Nanoseconds;
        return (long)(Stopwatch.GetTimestamp() * (1e9 / Stopwatch.Frequency));
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
