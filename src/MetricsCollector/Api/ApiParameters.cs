using System.Globalization;
using MetricsCollector.Core.Events;
using MetricsCollector.Core.Windows;
using MetricsCollector.ReadSide;
using Microsoft.AspNetCore.Http;

namespace MetricsCollector.Api;

/// <summary>
/// Reads and checks every client-supplied value. Each reader returns the value or a problem naming the
/// parameter, so a handler never meets bad input past its first lines and no client input can throw.
/// </summary>
internal static class ApiParameters
{
    public const int MaxN = 1000;
    public const int MaxLimit = 1000;
    public const int DefaultLimit = 100;

    private static readonly string[] IsoFormats =
    [
        "yyyy-MM-dd'T'HH:mm:ssK",
        "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK",
        "yyyy-MM-dd'T'HH:mmK",
        "yyyy-MM-dd",
    ];

    private static readonly string RankNames = string.Join('|', Enum.GetValues<RankBy>().Select(b => b.Name()));

    public static IResult? N(string text, out int n) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out n) && n is >= 1 and <= MaxN
            ? null
            : Bad($"n must be an integer from 1 to {MaxN}, got '{text}'.");

    /// <summary>The input's device-id rule (<see cref="DeviceIdRule"/>), so any id the pipeline accepts can be asked for.</summary>
    public static IResult? DeviceId(string deviceId) => DeviceIdRule.Problem(deviceId) is { } problem ? Bad(problem) : null;

    public static IResult? By(HttpRequest request, out RankBy by)
    {
        by = RankByExtensions.Default;
        var problem = Single(request, "by", out var text);
        if (problem is not null || text is null)
        {
            return problem;
        }

        return RankByExtensions.TryParse(text, out by) ? null : Bad($"by must be one of {RankNames}, got '{text}'.");
    }

    public static IResult? Time(HttpRequest request, string name, out long? epochMs)
    {
        epochMs = null;
        var problem = Single(request, name, out var text);
        if (problem is not null || text is null)
        {
            return problem;
        }

        if (TryParseTime(text, out var parsed))
        {
            epochMs = parsed;
            return null;
        }

        return Bad($"{name} must be an ISO-8601 time (2025-11-28T05:30:00Z, 2025-11-28T05:30:00.000+01:00) or epoch milliseconds, got '{text}'.");
    }

    public static IResult? Limit(HttpRequest request, out int limit)
    {
        limit = DefaultLimit;
        var problem = Single(request, "limit", out var text);
        if (problem is not null || text is null)
        {
            return problem;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out limit) && limit is >= 1 and <= MaxLimit
            ? null
            : Bad($"limit must be an integer from 1 to {MaxLimit}, got '{text}'.");
    }

    public static IResult? Cursor(HttpRequest request, out HistoryCursor? cursor)
    {
        cursor = null;
        var problem = Single(request, "cursor", out var text);
        if (problem is not null || text is null)
        {
            return problem;
        }

        if (HistoryCursor.TryParse(text, out var parsed))
        {
            cursor = parsed;
            return null;
        }

        return Bad("cursor is not one this API handed out: pass nextCursor from the previous page unchanged.");
    }

    public static IResult Bad(string detail) =>
        TypedResults.Problem(detail: detail, statusCode: StatusCodes.Status400BadRequest, title: "Bad parameter");

    internal static bool TryParseTime(string text, out long epochMs)
    {
        if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out epochMs))
        {
            return true;
        }

        // An unescaped '+' in a query string arrives as a space; an ISO-8601 time never has one, so a space
        // can only be the '+' of an offset such as +01:00.
        if (DateTimeOffset.TryParseExact(
                text.Replace(' ', '+'),
                IsoFormats,
                CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal,
                out var time))
        {
            epochMs = time.ToUnixTimeMilliseconds();
            return true;
        }

        return false;
    }

    /// <summary>An optional query parameter given at most once: <c>?by=p50&amp;by=max</c> has no single meaning.</summary>
    private static IResult? Single(HttpRequest request, string name, out string? value)
    {
        var values = request.Query[name];
        value = values.Count == 1 ? values[0] : null;
        return values.Count > 1 ? Bad($"{name} must be given at most once.") : null;
    }
}
