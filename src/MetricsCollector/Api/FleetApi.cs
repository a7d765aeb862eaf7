using MetricsCollector.ReadSide;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace MetricsCollector.Api;

/// <summary><c>GET /metrics/fleet</c>: one window's figures over the whole fleet, served from <see cref="FleetCache"/>.</summary>
internal static class FleetApi
{
    public static async Task<IResult> FleetAsync(HttpRequest request, [FromServices] FleetCache fleet, CancellationToken ct)
    {
        if (ApiParameters.Time(request, "windowEnd", out var windowEnd) is { } badWindowEnd)
        {
            return badWindowEnd;
        }

        if (ApiParameters.By(request, out var figure) is { } badBy)
        {
            return badBy;
        }

        // Without by, the figures are over every event; with it, over that figure of every device.
        Core.Windows.RankBy? by = request.Query.ContainsKey("by") ? figure : null;
        return await MetricsApi.Unavailable503Async(async () =>
        {
            var answer = await fleet.GetAsync(windowEnd, by, ct);
            return answer.Status switch
            {
                FleetStatus.Served => MetricsApi.Json(answer, WindowResultJson.WriteFleet),
                FleetStatus.NothingFiredYet => NotFound("No window has fired on every partition yet."),
                FleetStatus.NotFiredEverywhere => NotFound($"The window ending at {WindowResultJson.Time(answer.WindowEnd ?? 0)} has not fired on every partition yet."),
                _ => NotFound($"No rows for the window ending at {WindowResultJson.Time(answer.WindowEnd ?? 0)}."),
            };
        });
    }

    private static ProblemHttpResult NotFound(string detail) =>
        TypedResults.Problem(detail: detail, statusCode: StatusCodes.Status404NotFound, title: "No such window");
}
