using System.Globalization;
using MetricsCollector.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MetricsCollector.Observability;

/// <summary>
/// Whether a node is catching up (after a restart, a rebalance or an outage it has a backlog to replay)
/// and when it will be done. Behind means not read yet: commits trail a node that keeps up by its
/// snapshot interval, and counting from them said "catching up" all through a steady stream: one line per report while it is behind, none while it keeps up. The rate is
/// the records this node took since the last report; the estimate assumes that rate holds.
/// </summary>
public sealed class CatchUp(long threshold)
{
    private long? _lastRecordsIn;
    private DateTimeOffset _lastAt;
    private bool _behind;

    /// <summary>What to say at <paramref name="now"/> given the records behind and taken so far; null when nothing.</summary>
    public string? Report(long recordsBehind, long recordsIn, DateTimeOffset now)
    {
        var rate = _lastRecordsIn is { } last && now > _lastAt ? (recordsIn - last) / (now - _lastAt).TotalSeconds : 0;
        _lastRecordsIn = recordsIn;
        _lastAt = now;
        if (recordsBehind >= threshold)
        {
            _behind = true;
            var eta = rate > 0 ? $", about {Format(TimeSpan.FromSeconds(recordsBehind / rate))} to go" : "";
            return string.Create(CultureInfo.InvariantCulture, $"Catching up: {recordsBehind:N0} records behind, taking {rate:N0} records/s{eta}");
        }
        if (!_behind) return null;
        _behind = false;
        return string.Create(CultureInfo.InvariantCulture, $"Caught up: {recordsBehind:N0} records behind");
    }

    private static string Format(TimeSpan span) =>
        span.TotalHours >= 1 ? $"{(int)span.TotalHours} h {span.Minutes} min" : span.TotalMinutes >= 1 ? $"{(int)span.TotalMinutes} min {span.Seconds} s" : $"{Math.Max(1, (int)Math.Round(span.TotalSeconds))} s";
}

/// <summary>Logs <see cref="CatchUp"/>'s lines at Info, every <see cref="CollectorSettings.CatchUpReportInterval"/>.</summary>
public sealed class CatchUpReporter(CollectorMetrics metrics, CollectorSettings settings, TimeProvider clock, ILogger<CatchUpReporter> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var catchUp = new CatchUp(settings.CatchUpReportThreshold);
        using var timer = new PeriodicTimer(settings.CatchUpReportInterval, clock);
        try
        {
            do
            {
                if (catchUp.Report(metrics.RecordsUnread(), metrics.RecordsIn, clock.GetUtcNow()) is { } line) log.LogInformation("{Progress}", line);
            } while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException)
        {
            // The node stops.
        }
    }
}
