namespace MetricsCollector.ReadSide;

/// <summary>How long result rows are kept, and how their deletion paces itself.</summary>
/// <param name="Retention">Rows whose window ended longer ago than this are deleted.</param>
public sealed record RetentionSettings(TimeSpan Retention)
{
    /// <summary>
    /// Rows deleted per transaction, with their windows' parts. A SQLite writer waits for a whole batch (one
    /// writer at a time), a PostgreSQL one only for a batch holding rows it writes too. A batch of 500 took a
    /// median of 5–10 ms on either store on a shared 2-core machine, a tenth of the 100 ms a writer may wait;
    /// 1,000 took 1.2–2× that (docs/benchmarks.md, "Retention").
    /// </summary>
    public int BatchSize { get; init; } = 500;

    /// <summary>How often a node looks for expired rows. Rows expire a slide's worth at a time, so a pass a
    /// minute deletes about one slide of every device.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>The pause after each batch of a pass, in which writers and readers have the store to themselves.</summary>
    public TimeSpan Pause { get; init; } = TimeSpan.FromMilliseconds(50);
}

/// <summary>What one pass deleted, and how long it took (pauses included).</summary>
public sealed record RetentionPass(long EndedBefore, int Rows, int Parts, int Batches, TimeSpan Elapsed);

/// <summary>
/// Deletes rows whose window ended more than <see cref="RetentionSettings.Retention"/> ago: every interval, one
/// pass of small batches with a pause after each, until none older is left. Across a cluster one node at a
/// time runs a pass (<see cref="IResultStore.TryLockRetentionAsync"/>); the others skip theirs.
/// </summary>
public sealed class RetentionService : BackgroundService
{
    private readonly IResultStore _store;
    private readonly RetentionSettings _settings;
    private readonly TimeProvider _clock;
    private readonly ILogger<RetentionService> _log;

    public RetentionService(IResultStore store, RetentionSettings settings, TimeProvider clock, ILogger<RetentionService> log)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(settings.Retention, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(settings.BatchSize);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(settings.Interval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.Pause, TimeSpan.Zero);
        _store = store;
        _settings = settings;
        _clock = clock;
        _log = log;
    }

    /// <summary>
    /// Deletes batch after batch of rows whose window ended before now minus the retention, until a batch comes
    /// back short. Null when another node holds the turn.
    /// </summary>
    public async Task<RetentionPass?> RunPassAsync(CancellationToken ct)
    {
        await using var turn = await _store.TryLockRetentionAsync(ct);
        if (turn is null)
        {
            return null;
        }

        var started = _clock.GetTimestamp();
        var endedBefore = (_clock.GetUtcNow() - _settings.Retention).ToUnixTimeMilliseconds();
        int rows = 0, parts = 0, batches = 0;
        while (true)
        {
            var deleted = await _store.DeleteEndedBeforeAsync(endedBefore, _settings.BatchSize, ct);
            rows += deleted.Rows;
            parts += deleted.Parts;
            batches++;
            if (deleted.Rows < _settings.BatchSize)
            {
                return new RetentionPass(endedBefore, rows, parts, batches, _clock.GetElapsedTime(started));
            }

            await Task.Delay(_settings.Pause, _clock, ct);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _log.LogInformation(
            "Retention: rows are kept for {Retention} after their window ends, checked every {Interval}",
            _settings.Retention, _settings.Interval);
        using var timer = new PeriodicTimer(_settings.Interval, _clock);
        try
        {
            do
            {
                await RunAndReportAsync(stoppingToken);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task RunAndReportAsync(CancellationToken ct)
    {
        try
        {
            var pass = await RunPassAsync(ct);
            if (pass is null)
            {
                _log.LogDebug("Retention: another node is deleting expired rows");
            }
            else if (pass.Rows > 0)
            {
                _log.LogInformation(
                    "Retention: deleted {Rows} rows and {Parts} window parts of windows that ended before {EndedBefore:O} in {Elapsed:F0} ms ({Batches} batches)",
                    pass.Rows, pass.Parts, DateTimeOffset.FromUnixTimeMilliseconds(pass.EndedBefore), pass.Elapsed.TotalMilliseconds, pass.Batches);
            }
        }
        catch (StoreUnavailableException e)
        {
            // The rows wait for the next pass; nothing is lost by deleting later.
            _log.LogWarning("Retention: pass abandoned, retrying in {Interval}: {Reason}", _settings.Interval, e.Message);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            _log.LogError(e, "Retention: pass failed, retrying in {Interval}", _settings.Interval);
        }
    }
}
