using System.Text;
using MetricsCollector.Partitions;

namespace MetricsCollector.Tests.Partitions;

public sealed class PartitionProgressTests
{
    private static readonly PartitionProgress Progress =
        new PartitionProgress(1_234, 1_764_307_200_000, TimerDictionary.Of(new Dictionary<string, long> { ["device-1"] = 1_764_307_260_000 }), "cluster-a")
        {
            SideMarks = [new SideMark("iot.device.events.dlq", 3, 17), new SideMark("iot.cpu.metrics.tooLate", 3, 0)],
        };

    [Fact]
    public void Survives_encoding_with_its_side_marks()
    {
        var decoded = PartitionProgress.Decode(Progress.Encode());
        Assert.True(decoded.ResumesLike(Progress));
        Assert.Equal(Progress.SideMarks, decoded.SideMarks);
    }

    [Fact]
    public void A_checkpoint_of_the_version_before_side_marks_reads_as_one_without_marks()
    {
        var decoded = PartitionProgress.Decode(Written(writer =>
        {
            Header(writer, version: 2);
            writer.Write7BitEncodedInt(1);
            writer.Write("device-1");
            writer.Write(1_764_307_260_000L);
        }));
        Assert.True(decoded.ResumesLike(Progress));
        Assert.Empty(decoded.SideMarks);
    }

    [Fact]
    public void Side_marks_belong_to_the_broker_they_came_from()
    {
        Assert.Equal(Progress.SideMarks, Progress.On("cluster-a").SideMarks);
        var elsewhere = Progress.On("cluster-b");
        Assert.Empty(elsewhere.SideMarks);
        Assert.Equal((0L, Progress.Watermark), (elsewhere.Offset, elsewhere.Watermark));
    }

    [Fact]
    public void Resumes_differently_after_an_idle_jump_or_a_new_timer_at_the_same_offset()
    {
        Assert.True(Progress.ResumesLike(Progress with { SideMarks = [] }));
        Assert.False(Progress.ResumesLike(Progress with { Watermark = Progress.Watermark + 1 }));
        Assert.False(Progress.ResumesLike(Progress with { Timers = TimerDictionary.Of(new Dictionary<string, long> { ["device-1"] = 1_764_307_270_000 }) }));
        Assert.False(Progress.ResumesLike(Progress with { Timers = TimerDictionary.Empty }));
    }

    private static readonly PartitionProgress Full = Progress with
    {
        Timers = TimerDictionary.Of(new Dictionary<string, long> { ["device-1"] = 60_000, ["device-2"] = 120_000, ["device-3"] = 60_000 }),
        Jumps = [new WatermarkJump(1_300, 1_764_307_230_000)],
        LogGeneration = 2,
        TopicId = "topic-id",
        FinalThrough = 1_764_307_100_000,
    };

    /// <summary>Nodes of different versions share the store: version 4 is written byte for byte as it always was.</summary>
    [Fact]
    public void Encodes_version_4_as_written_before_with_timers_grouped_by_time()
    {
        var written = Written(writer =>
        {
            Header(writer, version: 4);
            writer.Write7BitEncodedInt(2);
            writer.Write(60_000L);
            writer.Write7BitEncodedInt(2);
            writer.Write("device-1");
            writer.Write("device-3");
            writer.Write(120_000L);
            writer.Write7BitEncodedInt(1);
            writer.Write("device-2");
            writer.Write7BitEncodedInt(2);
            writer.Write("iot.device.events.dlq");
            writer.Write7BitEncodedInt(3);
            writer.Write(17L);
            writer.Write("iot.cpu.metrics.tooLate");
            writer.Write7BitEncodedInt(3);
            writer.Write(0L);
            writer.Write7BitEncodedInt(1);
            writer.Write(1_300L);
            writer.Write(1_764_307_230_000L);
            writer.Write7BitEncodedInt(2);
            writer.Write("topic-id");
            writer.Write(1_764_307_100_000L);
        });

        Assert.Equal(written, Full.Encode());
        var decoded = PartitionProgress.Decode(Full.Encode());
        Assert.True(decoded.ResumesLike(Full));
        Assert.Equal(Full.Timers.OrderBy(t => t.Key), decoded.Timers.OrderBy(t => t.Key));
        Assert.Equal((Full.LogGeneration, Full.TopicId, Full.FinalThrough), (decoded.LogGeneration, decoded.TopicId, decoded.FinalThrough));
    }

    [Fact]
    public void Decodes_without_its_timers_what_readers_of_the_stored_watermark_need()
    {
        var decoded = PartitionProgress.DecodeWithoutTimers(Full.Encode());
        Assert.Empty(decoded.Timers);
        Assert.Equal((Full.Offset, Full.Watermark, Full.FinalThrough, Full.LogGeneration, Full.TopicId), (decoded.Offset, decoded.Watermark, decoded.FinalThrough, decoded.LogGeneration, decoded.TopicId));
        Assert.Equal(Full.SideMarks, decoded.SideMarks);
        Assert.Equal(Full.Jumps, decoded.Jumps);
    }

    [Fact]
    public void A_truncated_or_garbled_progress_is_a_format_error()
    {
        var text = Full.Encode();
        Assert.Throws<FormatException>(() => PartitionProgress.Decode(text[..(text.Length / 2 / 4 * 4)]));
        Assert.Throws<FormatException>(() => PartitionProgress.DecodeWithoutTimers(text[..(text.Length / 2 / 4 * 4)]));
        Assert.Throws<FormatException>(() => PartitionProgress.Decode("not base64!"));
        // A device id whose length points past the end, or is negative: damaged, not a crash of another kind.
        foreach (var length in new[] { 1_000_000, -5 })
        {
            var damaged = Written(writer =>
            {
                Header(writer, version: 4);
                writer.Write7BitEncodedInt(1);
                writer.Write(60_000L);
                writer.Write7BitEncodedInt(1);
                writer.Write7BitEncodedInt(length);
            });
            Assert.Throws<FormatException>(() => PartitionProgress.Decode(damaged));
            Assert.Throws<FormatException>(() => PartitionProgress.DecodeWithoutTimers(damaged));
        }
    }

    /// <summary>The fields every version starts with, as <see cref="Progress"/> holds them.</summary>
    private static void Header(BinaryWriter writer, byte version)
    {
        writer.Write(version);
        writer.Write("cluster-a");
        writer.Write(1_234L);
        writer.Write(1_764_307_200_000L);
    }

    private static string Written(Action<BinaryWriter> write)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8)) write(writer);
        return Convert.ToBase64String(stream.ToArray());
    }
}
