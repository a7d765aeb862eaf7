using System.Globalization;
using System.Text.Json;
using MetricsCollector.Core.Digests;
using MetricsCollector.Core.Windows;
using MetricsCollector.ReadSide;

namespace MetricsCollector.Api;

/// <summary>
/// The wire form of result rows, written by hand with <see cref="Utf8JsonWriter"/>: the field names and
/// time format are a contract (PRODUCT.md) that must not follow a serializer's naming policy, and writing
/// pre-encoded names straight into the response pipe allocates nothing per field on the hot routes.
/// </summary>
internal static class WindowResultJson
{
    private const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";

    private static readonly JsonEncodedText DeviceId = JsonEncodedText.Encode("deviceId");
    private static readonly JsonEncodedText WindowStart = JsonEncodedText.Encode("windowStart");
    private static readonly JsonEncodedText WindowEnd = JsonEncodedText.Encode("windowEnd");
    private static readonly JsonEncodedText Percentile95 = JsonEncodedText.Encode("percentile95");
    private static readonly JsonEncodedText P50 = JsonEncodedText.Encode("p50");
    private static readonly JsonEncodedText P90 = JsonEncodedText.Encode("p90");
    private static readonly JsonEncodedText P95 = JsonEncodedText.Encode("p95");
    private static readonly JsonEncodedText P99 = JsonEncodedText.Encode("p99");
    private static readonly JsonEncodedText Min = JsonEncodedText.Encode("min");
    private static readonly JsonEncodedText Max = JsonEncodedText.Encode("max");
    private static readonly JsonEncodedText Mean = JsonEncodedText.Encode("mean");
    private static readonly JsonEncodedText Count = JsonEncodedText.Encode("count");
    private static readonly JsonEncodedText Revision = JsonEncodedText.Encode("revision");
    private static readonly JsonEncodedText Final = JsonEncodedText.Encode("final");
    private static readonly JsonEncodedText LastUpdated = JsonEncodedText.Encode("lastUpdated");
    private static readonly JsonEncodedText Bounds = JsonEncodedText.Encode("bounds");
    private static readonly JsonEncodedText Provisional = JsonEncodedText.Encode("provisional");
    private static readonly JsonEncodedText Devices = JsonEncodedText.Encode("devices");
    private static readonly JsonEncodedText By = JsonEncodedText.Encode("by");
    private static readonly JsonEncodedText Items = JsonEncodedText.Encode("items");
    private static readonly JsonEncodedText NextCursor = JsonEncodedText.Encode("nextCursor");

    public static void WriteRow(Utf8JsonWriter writer, WindowResult row) => WriteRow(writer, row, provisional: false);

    /// <summary>Rows of windows that have not fired (the live route): marked <c>"provisional":true</c>.</summary>
    public static void WriteProvisionalRows(Utf8JsonWriter writer, IReadOnlyList<WindowResult> rows) => WriteRows(writer, rows, provisional: true);

    private static void WriteRow(Utf8JsonWriter writer, WindowResult row, bool provisional)
    {
        writer.WriteStartObject();
        writer.WriteString(DeviceId, row.DeviceId);
        WriteTime(writer, WindowStart, row.WindowStart);
        WriteTime(writer, WindowEnd, row.WindowEnd);
        WriteFigures(writer, row.P95, row.P50, row.P90, row.P99, row.Min, row.Max, row.Mean);
        writer.WriteNumber(Count, row.Count);
        writer.WriteNumber(Revision, row.Revision);
        writer.WriteBoolean(Final, row.Final);
        WriteTime(writer, LastUpdated, row.LastUpdated);
        WriteBounds(writer, row.Bounds);
        if (provisional)
        {
            writer.WriteBoolean(Provisional, true);
        }

        writer.WriteEndObject();
    }

    /// <summary>A fleet answer: a row's figures without device, revision and lastUpdated, plus devices (and by, when asked).</summary>
    public static void WriteFleet(Utf8JsonWriter writer, FleetAnswer answer)
    {
        var fleet = answer.Figures ?? throw new ArgumentException("a fleet answer without figures", nameof(answer));
        writer.WriteStartObject();
        WriteTime(writer, WindowStart, fleet.WindowStart);
        WriteTime(writer, WindowEnd, fleet.WindowEnd);
        if (answer.By is { } by)
        {
            writer.WriteString(By, by.Name());
        }

        WriteFigures(writer, fleet.P95, fleet.P50, fleet.P90, fleet.P99, fleet.Min, fleet.Max, fleet.Mean);
        writer.WriteNumber(Count, fleet.Count);
        writer.WriteNumber(Devices, fleet.Devices);
        writer.WriteBoolean(Final, answer.Final);
        writer.WriteEndObject();
    }

    public static void WriteRows(Utf8JsonWriter writer, IReadOnlyList<WindowResult> rows) => WriteRows(writer, rows, provisional: false);

    private static void WriteRows(Utf8JsonWriter writer, IReadOnlyList<WindowResult> rows, bool provisional)
    {
        writer.WriteStartArray();
        foreach (var row in rows)
        {
            WriteRow(writer, row, provisional);
        }

        writer.WriteEndArray();
    }

    public static void WritePage(Utf8JsonWriter writer, HistoryPage page)
    {
        writer.WriteStartObject();
        writer.WritePropertyName(Items);
        WriteRows(writer, page.Items);
        if (page.Next is { } next)
        {
            writer.WriteString(NextCursor, next.ToString());
        }
        else
        {
            writer.WriteNull(NextCursor);
        }

        writer.WriteEndObject();
    }

    private static void WriteFigures(Utf8JsonWriter writer, double p95, double p50, double p90, double p99, double min, double max, double mean)
    {
        // Field order as PRODUCT.md shows it: clients should not care, but diffs and eyes do.
        WriteFigure(writer, Percentile95, p95);
        WriteFigure(writer, P50, p50);
        WriteFigure(writer, P90, p90);
        WriteFigure(writer, P99, p99);
        WriteFigure(writer, Min, min);
        WriteFigure(writer, Max, max);
        WriteFigure(writer, Mean, mean);
    }

    /// <summary>
    /// A figure always with a fraction or exponent (<c>91.0</c>, never <c>91</c>), as PRODUCT.md shows it:
    /// consumers that tell integers from floats by the text see one type per field.
    /// </summary>
    private static void WriteFigure(Utf8JsonWriter writer, JsonEncodedText name, double value)
    {
        writer.WritePropertyName(name);
        WriteFigureValue(writer, name, value);
    }

    private static void WriteFigureValue(Utf8JsonWriter writer, JsonEncodedText name, double value)
    {
        if (!double.IsFinite(value))
        {
            // JSON has no NaN; the stores refuse such rows, so one here is a bug upstream, not client input.
            throw new InvalidOperationException($"Non-finite figure {name}: {value}.");
        }

        Span<byte> utf8 = stackalloc byte[34];
        value.TryFormat(utf8, out var written, "R", CultureInfo.InvariantCulture);
        if (utf8[..written].IndexOfAny(".Ee"u8) < 0)
        {
            ".0"u8.CopyTo(utf8[written..]);
            written += 2;
        }

        writer.WriteRawValue(utf8[..written], skipInputValidation: true);
    }

    /// <summary><c>"bounds":{"p50":[low,high],…}</c>: per percentile, where its exact value certainly lies.</summary>
    private static void WriteBounds(Utf8JsonWriter writer, PercentileBounds bounds)
    {
        writer.WriteStartObject(Bounds);
        WriteRange(writer, P50, bounds.P50);
        WriteRange(writer, P90, bounds.P90);
        WriteRange(writer, P95, bounds.P95);
        WriteRange(writer, P99, bounds.P99);
        writer.WriteEndObject();
    }

    private static void WriteRange(Utf8JsonWriter writer, JsonEncodedText name, ValueRange range)
    {
        writer.WriteStartArray(name);
        WriteFigureValue(writer, name, range.Low);
        WriteFigureValue(writer, name, range.High);
        writer.WriteEndArray();
    }
    /// <summary>A time as the rows write it: ISO-8601 UTC with milliseconds and <c>Z</c>.</summary>
    public static string Time(long epochMs) =>
        DateTime.UnixEpoch.AddMilliseconds(epochMs).ToString(TimeFormat, CultureInfo.InvariantCulture);

    private static void WriteTime(Utf8JsonWriter writer, JsonEncodedText name, long epochMs)
    {
        Span<byte> utf8 = stackalloc byte[32];
        DateTime.UnixEpoch.AddMilliseconds(epochMs).TryFormat(utf8, out var written, TimeFormat, CultureInfo.InvariantCulture);
        writer.WriteString(name, utf8[..written]);
    }
}
