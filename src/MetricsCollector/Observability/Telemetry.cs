using System.Diagnostics.Metrics;
using Npgsql;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace MetricsCollector.Observability;

/// <summary>
/// OpenTelemetry is the node's one metrics and tracing path: our meter, the .NET runtime,
/// ASP.NET Core and Npgsql, exposed in the Prometheus text format at <c>/metrics</c>; spans go
/// out over OTLP only when the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> names a collector
/// (the exporter reads the other <c>OTEL_EXPORTER_OTLP_*</c> variables itself).
/// </summary>
public static class Telemetry
{
    public const string OtlpEndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";

    public static IServiceCollection AddCollectorTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        var otel = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("metrics-collector"))
            .WithMetrics(metrics => metrics
                .AddMeter(CollectorMetrics.MeterName)
                .AddRuntimeInstrumentation()
                .AddAspNetCoreInstrumentation()
                .AddNpgsqlInstrumentation()
                // No otel_scope_* labels: every name here is unique without them, and series stay as operators and scripts read them.
                .AddPrometheusExporter(prometheus => prometheus.ScopeInfoEnabled = false));
        services.ConfigureOpenTelemetryMeterProvider((provider, metrics) => metrics.AddView(OnlyThisNode(provider.GetRequiredService<IMeterFactory>())));
        if (!string.IsNullOrWhiteSpace(configuration[OtlpEndpointVariable]))
        {
            otel.WithTracing(tracing => tracing
                .AddSource(CollectorTracing.SourceName)
                .AddAspNetCoreInstrumentation()
                .AddNpgsql()
                .AddOtlpExporter());
        }
        return services;
    }

    /// <summary>
    /// OpenTelemetry listens to meters by name, process-wide: where several nodes share a process
    /// (tests), each would report the others' numbers too. A node keeps our meter only from its own
    /// container's factory and leaves out every meter another container's factory made (ASP.NET
    /// Core's, for one); process-wide meters (runtime, Npgsql) stay.
    /// </summary>
    private static Func<Instrument, MetricStreamConfiguration?> OnlyThisNode(IMeterFactory own) => instrument =>
        instrument.Meter.Scope == own || (instrument.Meter.Scope is not IMeterFactory && instrument.Meter.Name != CollectorMetrics.MeterName)
            ? null
            : MetricStreamConfiguration.Drop;

    /// <summary>The Prometheus scrape endpoint, left out of the HTTP metrics it would otherwise dominate.</summary>
    public static IEndpointRouteBuilder MapCollectorMetrics(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPrometheusScrapingEndpoint("/metrics").DisableHttpMetrics();
        return endpoints;
    }
}
