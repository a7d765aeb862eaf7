using System.Text;
using MetricsCollector.Partitions;

namespace MetricsCollector.Tests.Partitions;

public sealed class PartitionProgressTests
{
    private static readonly PartitionProgress Progress =
        new PartitionProgress(1_234, 1_764_307_200_000, new Dictionary<string, long> { ["device-1"] = 1_764_307_260_000 }, "cluster-a")
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
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8))
        {
            writer.Write((byte)2);
            writer.Write("cluster-a");
            writer.Write(1_234L);
            writer.Write(1_764_307_200_000L);
            writer.Write7BitEncodedInt(1);
            writer.Write("device-1");
            writer.Write(1_764_307_260_000L);
        }

        var decoded = PartitionProgress.Decode(Convert.ToBase64String(stream.ToArray()));
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
        Assert.False(Progress.ResumesLike(Progress with { Timers = new Dictionary<string, long> { ["device-1"] = 1_764_307_270_000 } }));
        Assert.False(Progress.ResumesLike(Progress with { Timers = new Dictionary<string, long>() }));
    }
}
