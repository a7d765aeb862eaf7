using System.Globalization;

namespace MetricsCollector.Load;

/// <summary>
/// How `load api` shares its requests among the routes, by weight: <c>top=2,device=5,history=1</c>.
/// Routes: <c>top</c> (the latest window's top-N, any figure), <c>window</c> (the top-N of an earlier
/// window), <c>device</c> (a device's latest row) and <c>history</c> (a page of a device's history).
/// </summary>
public sealed record RouteMix(IReadOnlyList<KeyValuePair<string, int>> Weights)
{
    public static readonly IReadOnlyList<string> Routes = ["top", "window", "device", "history"];

    public static RouteMix Default { get; } = Parse("top=1,window=1,device=1,history=1");

    /// <summary>Reads <c>name=weight,…</c>; throws <see cref="FormatException"/> naming what is wrong.</summary>
    public static RouteMix Parse(string text)
    {
        var weights = new List<KeyValuePair<string, int>>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var pair = part.Split('=', 2, StringSplitOptions.TrimEntries);
            if (pair.Length != 2 || !Routes.Contains(pair[0]))
            {
                throw new FormatException($"mix entry '{part}' is not route=weight with a route of {string.Join(", ", Routes)}");
            }

            if (!int.TryParse(pair[1], NumberStyles.None, CultureInfo.InvariantCulture, out var weight))
            {
                throw new FormatException($"mix entry '{part}': the weight must be a whole number, 0 or more");
            }

            if (weights.Any(w => w.Key == pair[0]))
            {
                throw new FormatException($"mix names '{pair[0]}' twice");
            }

            if (weight > 0)
            {
                weights.Add(new(pair[0], weight));
            }
        }

        return weights.Count == 0
            ? throw new FormatException($"mix '{text}' gives no route a weight above 0")
            : new RouteMix(weights);
    }

    /// <summary>A route drawn with probability proportional to its weight.</summary>
    public string Pick(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        var ticket = random.Next(Weights.Sum(w => w.Value));
        foreach (var (route, weight) in Weights)
        {
            if ((ticket -= weight) < 0)
            {
                return route;
            }
        }

        throw new InvalidOperationException("unreachable: the ticket is below the sum of the weights");
    }

    public override string ToString() => string.Join(',', Weights.Select(w => $"{w.Key}={w.Value}"));
}
