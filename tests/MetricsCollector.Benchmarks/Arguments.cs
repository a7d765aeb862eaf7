using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;

namespace MetricsCollector.Benchmarks;

/// <summary>
/// The kinds of value the measurement commands take. Sizes are positional and optional, as the
/// command lines in docs/benchmarks.md write them (`pipeline 2000000 10`), so a shorter line keeps
/// the later defaults; none of them means anything at zero or below.
/// </summary>
internal static class Arguments
{
    /// <summary>An optional positional size above zero.</summary>
    public static Argument<T> Positive<T>(string name, T defaultValue, string description)
        where T : struct, INumber<T> =>
        new(name) { Description = description, DefaultValueFactory = _ => defaultValue, Arity = ArgumentArity.ZeroOrOne, CustomParser = r => AboveZero<T>(r, name) };

    /// <summary>An option whose value is a size above zero.</summary>
    public static Option<T> PositiveOption<T>(string name, T defaultValue, string description)
        where T : struct, INumber<T> =>
        new(name) { Description = description, DefaultValueFactory = _ => defaultValue, CustomParser = r => AboveZero<T>(r, name) };

    /// <summary>An option whose value is a fraction strictly between 0 and 1.</summary>
    public static Option<double> FractionOption(string name, double defaultValue, string description) =>
        new(name)
        {
            Description = description,
            DefaultValueFactory = _ => defaultValue,
            CustomParser = r =>
            {
                var value = AboveZero<double>(r, name);
                if (value >= 1) r.AddError($"{name} takes a fraction below 1, got '{r.Tokens.Single().Value}'");
                return value;
            },
        };

    /// <summary>An optional positional list of sizes above zero, written with commas: `1000,10000`.</summary>
    public static Argument<int[]> CommaSeparated(string name, int[] defaultValue, string description) => new(name)
    {
        Description = $"{description} Comma-separated.",
        DefaultValueFactory = _ => defaultValue,
        Arity = ArgumentArity.ZeroOrOne,
        CustomParser = r =>
        {
            var values = new List<int>();
            foreach (var text in r.Tokens.Single().Value.Split(','))
            {
                if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value <= 0)
                {
                    r.AddError($"{name} takes whole numbers above 0 separated by commas, got '{r.Tokens.Single().Value}'");
                    return [];
                }

                values.Add(value);
            }

            return [.. values];
        },
    };

    /// <summary>Parses the one token given (a default never comes here); a value that is no number, or not above zero, is an error naming the argument.</summary>
    private static T AboveZero<T>(ArgumentResult result, string name)
        where T : struct, INumber<T>
    {
        var text = result.Tokens.Single().Value;
        if (T.TryParse(text, CultureInfo.InvariantCulture, out var value) && value > T.Zero)
        {
            return value;
        }

        result.AddError($"{name} takes a number above 0, got '{text}'");
        return default;
    }
}
