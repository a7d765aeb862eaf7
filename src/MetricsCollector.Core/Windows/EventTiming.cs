namespace MetricsCollector.Core.Windows;

/// <summary>How an event stood against the watermark it was judged by.</summary>
public enum EventTiming
{
    /// <summary>None of its windows had fired: it counts without revising any row.</summary>
    OnTime,

    /// <summary>Some of its windows had fired: it revises their rows, and counts in every window not yet closed.</summary>
    Late,

    /// <summary>Every window holding it had closed: it counts nowhere and belongs in the too-late topic.</summary>
    TooLate,
}
