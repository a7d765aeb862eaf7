using System.Text.Json;
using MetricsCollector.Core.Windows;
using MetricsCollector.ReadSide;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace MetricsCollector.Api;

/// <summary>
/// The result routes of the REST API. Every parameter arrives as a string and is checked by
/// <see cref="ApiParameters"/>, not by route constraints or binding, whose failures answer a bare 400
/// (or a 404 for a route that "does not match") instead of a problem that names the parameter.
/// </summary>
public static class MetricsApi
{
    /// <summary>
    /// Registers what the routes need besides <see cref="IResultStore"/> and <see cref="ILatestTopN"/>, which
    /// the host registers. The host should also call <c>UseExceptionHandler()</c> and
    /// <c>UseStatusCodePages()</c>, so real faults and unmatched routes answer problem+json too.
    /// </summary>
    public static IServiceCollection AddMetricsApi(this IServiceCollection services) => services.AddProblemDetails();

    /// <summary>The API with what it needs in front of it: problem+json for real faults and for unmatched routes.</summary>
    public static WebApplication UseMetricsApi(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.MapMetricsApi();
        return app;
    }

    public static IEndpointRouteBuilder MapMetricsApi(this IEndpointRouteBuilder endpoints)
    {
        var metrics = endpoints.MapGroup("/metrics").AddEndpointFilter(ServeOnlyWhenReadyAsync);
        metrics.MapGet("/top/{n}", TopAsync);
        metrics.MapGet("/devices/{deviceId}", LatestAsync);
        metrics.MapGet("/devices/{deviceId}/history", HistoryAsync);
        metrics.MapGet("/devices/{deviceId}/live", LiveApi.LiveAsync);
        metrics.MapGet("/fleet", FleetApi.FleetAsync);
        return endpoints;
    }

    private static async Task<IResult> TopAsync(
        string n, HttpRequest request, IResultStore store, ILatestTopN latest, CancellationToken ct)
    {
        if (ApiParameters.N(n, out var count) is { } badN)
        {
            return badN;
        }

        if (ApiParameters.By(request, out var by) is { } badBy)
        {
            return badBy;
        }

        if (ApiParameters.Time(request, "windowEnd", out var windowEnd) is { } badWindowEnd)
        {
            return badWindowEnd;
        }

        return await Unavailable503Async(async () =>
        {
            var rows = windowEnd is { } end
                ? await store.TopAsync(end, by, count, ct)
                : await latest.TopAsync(count, by, ct);
            return Json(rows, WindowResultJson.WriteRows);
        });
    }

    private static async Task<IResult> LatestAsync(string deviceId, HttpRequest request, IResultStore store, CancellationToken ct)
    {
        deviceId = DeviceIdOf(request, deviceId, segmentsAfter: 0);
        if (ApiParameters.DeviceId(deviceId) is { } problem)
        {
            return problem;
        }

        return await Unavailable503Async(async () =>
            await store.LatestAsync(deviceId, ct) is { } row ? Json(row, WindowResultJson.WriteRow) : UnknownDevice(deviceId));
    }

    private static async Task<IResult> HistoryAsync(
        string deviceId, HttpRequest request, IResultStore store, CancellationToken ct)
    {
        deviceId = DeviceIdOf(request, deviceId, segmentsAfter: 1);
        if (ApiParameters.DeviceId(deviceId) is { } badDevice)
        {
            return badDevice;
        }

        if (ApiParameters.Time(request, "from", out var from) is { } badFrom)
        {
            return badFrom;
        }

        if (ApiParameters.Time(request, "to", out var to) is { } badTo)
        {
            return badTo;
        }

        if (ApiParameters.Limit(request, out var limit) is { } badLimit)
        {
            return badLimit;
        }

        if (ApiParameters.Cursor(request, out var cursor) is { } badCursor)
        {
            return badCursor;
        }

        if (from > to)
        {
            return ApiParameters.Bad("from must not be after to.");
        }

        return await Unavailable503Async(async () =>
        {
            var page = await store.HistoryAsync(deviceId, from, to, limit, cursor, ct);
            // An empty first page is either a quiet range or a device never seen; only the second is a 404.
            if (page.Items.Count == 0 && cursor is null && await store.LatestAsync(deviceId, ct) is null)
            {
                return UnknownDevice(deviceId);
            }

            return Json(page, WindowResultJson.WritePage);
        });
    }

    /// <summary>
    /// The device id as the client escaped it. Kestrel decodes the path but leaves <c>%2F</c> as it is, so
    /// that an escaped '/' cannot split a route; the route value of an id holding '/' (sent as %2F) or '%'
    /// (sent as %25) is then not the id, and the two cannot be told apart. The raw target can: its segment
    /// is decoded here, counted from the end so a path base in front does not matter.
    /// </summary>
    internal static string DeviceIdOf(HttpRequest request, string routeValue, int segmentsAfter)
    {
        if (!routeValue.Contains('%', StringComparison.Ordinal)
            || request.HttpContext.Features.Get<IHttpRequestFeature>()?.RawTarget is not { } target)
        {
            return routeValue;
        }

        var path = target.AsSpan();
        var query = path.IndexOf('?');
        path = (query < 0 ? path : path[..query]).TrimEnd('/');
        for (var skip = 0; skip < segmentsAfter; skip++)
        {
            path = path[..Math.Max(path.LastIndexOf('/'), 0)];
        }

        return Uri.UnescapeDataString(path[(path.LastIndexOf('/') + 1)..].ToString());
    }

    internal static ProblemHttpResult UnknownDevice(string deviceId) =>
        TypedResults.Problem(
            detail: $"No results for device '{deviceId}'.",
            statusCode: StatusCodes.Status404NotFound,
            title: "Unknown device");

    /// <summary>The store or the top-N holder being out of reach passes: 503, so clients and balancers retry.</summary>
    internal static async Task<IResult> Unavailable503Async(Func<Task<IResult>> answer)
    {
        try
        {
            return await answer();
        }
        catch (Exception e) when (e is StoreUnavailableException or TimeoutException)
        {
            return TypedResults.Problem(
                detail: e.Message,
                statusCode: StatusCodes.Status503ServiceUnavailable,
                title: "Temporarily unavailable");
        }
    }

    /// <summary>503 while the node is not ready (<see cref="IReadinessGate"/>); a host without a gate always serves.</summary>
    private static async ValueTask<object?> ServeOnlyWhenReadyAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        if (context.HttpContext.RequestServices.GetService<IReadinessGate>()?.NotReady() is { } notReady)
        {
            return TypedResults.Problem(
                detail: $"This node is not ready: {notReady}.",
                statusCode: StatusCodes.Status503ServiceUnavailable,
                title: "Not ready");
        }

        return await next(context);
    }

    internal static IResult Json<T>(T value, Action<Utf8JsonWriter, T> write) => new JsonBody<T>(value, write);

    /// <summary>Writes straight into the response pipe, with no intermediate string or buffer.</summary>
    private sealed class JsonBody<T>(T value, Action<Utf8JsonWriter, T> write) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            var response = httpContext.Response;
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = "application/json; charset=utf-8";
            await using (var writer = new Utf8JsonWriter(response.BodyWriter))
            {
                write(writer, value);
            }

            await response.BodyWriter.FlushAsync(httpContext.RequestAborted);
        }
    }
}
