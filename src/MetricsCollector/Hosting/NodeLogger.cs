using Akka.Event;
using LogLevel = Akka.Event.LogLevel;

namespace MetricsCollector.Hosting;

/// <summary>
/// Akka's console logger for a node, with two levels: what the node's own actors and stages log
/// passes at Akka's <c>loglevel</c> (info unless asked otherwise: a store that is reachable
/// again, a partition resending to a device), while Akka's and its libraries' own entries pass
/// only from <c>metrics-collector.log-level</c> (warning by default): their info is start-up and
/// membership chatter that buried the banner.
/// </summary>
public sealed class NodeLogger : DefaultLogger
{
    private readonly LogLevel _libraries = LevelOf(Context.System.Settings.Config.GetString("metrics-collector.log-level", "warning"));

    protected override void Print(LogEvent logEvent)
    {
        if (logEvent.LogLevel() >= _libraries || IsOwn(logEvent)) base.Print(logEvent);
    }

    private static bool IsOwn(LogEvent logEvent) =>
        logEvent.LogClass?.Namespace?.StartsWith(nameof(MetricsCollector), StringComparison.Ordinal) == true;

    private static LogLevel LevelOf(string level) => level switch
    {
        "debug" => LogLevel.DebugLevel,
        "info" => LogLevel.InfoLevel,
        "error" => LogLevel.ErrorLevel,
        _ => LogLevel.WarningLevel,
    };
}
