using MetricsCollector.ReadSide;

namespace MetricsCollector.Tests.ReadSide;

public sealed class WriteBacklogTests
{
    [Fact]
    public void Room_is_there_at_once_below_the_limit()
    {
        var backlog = new WriteBacklog(limit: 10);
        backlog.Set(9);

        Assert.True(backlog.Room().IsCompleted);
    }

    [Fact]
    public async Task Room_comes_when_the_writer_goes_below_the_limit_and_not_before()
    {
        var backlog = new WriteBacklog(limit: 10);
        backlog.Set(12);
        var first = backlog.Room();
        var second = backlog.Room();

        backlog.Set(10);
        Assert.False(first.IsCompleted);

        backlog.Set(4);
        await Task.WhenAll(first, second).WaitAsync(TimeSpan.FromSeconds(5));

        // Full again: a new wait, not the one already completed.
        backlog.Set(10);
        Assert.False(backlog.Room().IsCompleted);
    }
}
