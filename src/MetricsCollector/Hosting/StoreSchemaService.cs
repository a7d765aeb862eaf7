using MetricsCollector.ReadSide;

namespace MetricsCollector.Hosting;

/// <summary>
/// Creates the read side's tables before anything writes to them. Hosted services start in order, and the
/// actor system starts before this one: what reads the tables of its own accord waits for <see cref="Ensured"/>.
/// </summary>
internal sealed class StoreSchemaService(IResultStore store) : IHostedService
{
    private readonly TaskCompletionSource _ensured = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once the tables exist.</summary>
    public Task Ensured => _ensured.Task;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await store.EnsureSchemaAsync(cancellationToken);
        _ensured.TrySetResult();
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
