namespace MetricsCollector.Core.Windows;

/// <summary>
/// How an event judged not too late (<c>RecordJudge</c>) stood against the watermark it was judged by;
/// too-late events never reach a device.
/// </summary>
public enum EventTiming
{
    /// <summary>None of its windows had fired: it counts without revising any row.</summary>
    OnTime,

    /// <summary>Some of its windows had fired: it revises their rows, and counts in every window not yet closed.</summary>
    Late,
}
