using MetricsCollector.Configuration;
using MetricsCollector.Kafka.Generation;

namespace MetricsCollector.Hosting;

/// <summary>Embedded mode's event generator: paced, so event time follows the wall clock and windows fire live.</summary>
public sealed class GeneratorService(string bootstrap, CollectorSettings settings, ILogger<GeneratorService> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var plan = new EventPlan(settings.Generator.ToOptions(settings));
        log.LogInformation("Generator: {Devices} devices at {Rate} events/s into {Topic}", settings.Generator.Devices, settings.Generator.Rate, settings.Topic);
        try
        {
            var report = await EventGenerator.RunAsync(plan, bootstrap, settings.Topic, paced: true, stoppingToken);
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
