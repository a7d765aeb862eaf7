using System.Text;
using CsCheck;
using MetricsCollector.Core.Events;

namespace MetricsCollector.Core.Tests.Events;

/// <summary>The rule's two forms, on the input's bytes and on an API's string, accept exactly the same ids.</summary>
public class DeviceIdRuleTests
{
    // Any scalar value, controls and over-long ids included.
    private static readonly Gen<string> GenAnyId = Gen.Frequency(
            (4, Gen.Int[0x20, 0x7E]),
            (1, Gen.Int[0x00, 0x1F]),
            (1, Gen.Int[0x7F, 0xA0]),
            (1, Gen.Int[0xA1, 0xD7FF]),
            (1, Gen.Int[0xE000, 0x10FFFF]))
        .Array[0, DeviceIdRule.MaxLength + 3]
        .Select(scalars => string.Concat(scalars.Select(s => new Rune(s).ToString())));

    [Fact]
    public void Bytes_and_string_agree_on_every_id() =>
        GenAnyId.Sample(id => (DeviceIdRule.Problem(id) is null) == DeviceIdRule.IsValid(Encoding.UTF8.GetBytes(id)), iter: 20_000);

    [Theory]
    [InlineData("device-1", true)]
    [InlineData("", false)]
    [InlineData("a\u0085b", false)]
    [InlineData("a\u007Fb", false)]
    [InlineData("tab\there", false)]
    [InlineData("🛰️ probe", true)]
    public void Examples(string id, bool valid)
    {
        Assert.Equal(valid, DeviceIdRule.Problem(id) is null);
        Assert.Equal(valid, DeviceIdRule.IsValid(Encoding.UTF8.GetBytes(id)));
    }

    [Fact]
    public void An_unpaired_surrogate_is_refused_by_name() =>
        Assert.Contains("unpaired surrogates", DeviceIdRule.Problem("a\uD800b"), StringComparison.Ordinal);

    [Fact]
    public void The_length_counts_scalars_not_bytes_or_chars()
    {
        var emoji = string.Concat(Enumerable.Repeat("😀", DeviceIdRule.MaxLength));
        Assert.Null(DeviceIdRule.Problem(emoji));
        Assert.True(DeviceIdRule.IsValid(Encoding.UTF8.GetBytes(emoji)));
        Assert.Equal($"deviceId must have 1 to {DeviceIdRule.MaxLength} characters, got {DeviceIdRule.MaxLength + 1}.", DeviceIdRule.Problem(emoji + "x"));
    }
}
