using MetricsCollector.Configuration;
using MetricsCollector.Kafka;
using MetricsCollector.Kafka.Generation;

namespace MetricsCollector.Hosting;

/// <summary>
/// Embedded mode's event generator. With 30-minute windows and a 5-minute bound, a generator that
/// only followed the wall clock would show the first row after 6 minutes; so it first backfills
/// one window plus the bound of history (each device once per slide, as fast as the broker takes
/// it), which fires a window's worth of rows within seconds, and then runs live, paced, so event
/// time follows the wall clock.
/// </summary>
public sealed class GeneratorService(string bootstrap, CollectorSettings settings, ILogger<GeneratorService> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var live = settings.Generator.ToOptions(settings);
        var slide = TimeSpan.FromMilliseconds(settings.Windows.Spec.Slide);
        var history = TimeSpan.FromMilliseconds(settings.Windows.Spec.Size) + settings.MaxOutOfOrderness + slide;
        var backfillRate = live.Devices / slide.TotalSeconds;
        var clients = new KafkaClients(bootstrap, settings.KafkaClientProperties);
        var backfill = live with
        {
            Seed = live.Seed + 1,
            Rate = backfillRate,
            EventTimeStart = DateTimeOffset.UtcNow - history,
            Count = (long)(history.TotalSeconds * backfillRate),
            Duration = null,
        };
        try
        {
            var filled = await EventGenerator.RunAsync(new EventPlan(backfill), clients.Producer(), settings.Topic, paced: false, stoppingToken);
            log.LogInformation("Generator backfilled {History} of history: {Report}", history, filled);
            log.LogInformation("Generator: {Devices} devices at {Rate} events/s into {Topic}", live.Devices, live.Rate, settings.Topic);
            var report = await EventGenerator.RunAsync(new EventPlan(live), clients.Producer(), settings.Topic, paced: true, stoppingToken);
            log.LogInformation("Generator finished: {Report}", report);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public sealed class Registration(string bootstrap, CollectorSettings settings) : IHostedServiceRegistration
    {
        public void Register(IServiceCollection services) =>
            services.AddHostedService(sp => new GeneratorService(bootstrap, settings, sp.GetRequiredService<ILogger<GeneratorService>>()));
    }
}
