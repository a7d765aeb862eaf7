using MetricsCollector.Persistence;

namespace MetricsCollector.Tests.Persistence;

public sealed class BatcherTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task What_arrives_while_a_batch_runs_goes_in_the_next_one_up_to_the_size_limit()
    {
        var batches = new List<int>();
        var first = new TaskCompletionSource();
        var batcher = new Batcher<int, int>(async (requests, _) =>
        {
            lock (batches) batches.Add(requests.Count);
            if (requests[0] == 0) await first.Task;
            return [.. requests.Select(r => r * 2)];
        }, maxBatch: 30, TimeSpan.FromMilliseconds(2), Patience, "doublings");

        var blocked = batcher.Submit(0, CancellationToken.None);
        while (Volatile.Read(ref batches).Count == 0) await Task.Delay(1);
        var rest = Enumerable.Range(1, 100).Select(i => batcher.Submit(i, CancellationToken.None)).ToArray();
        first.SetResult();

        Assert.Equal(Enumerable.Range(1, 100).Select(i => i * 2), await Task.WhenAll(rest).WaitAsync(Patience));
        Assert.Equal(0, await blocked);
        await batcher.StopAsync();
        Assert.Equal([1, 30, 30, 30, 10], batches);
    }

    [Fact]
    public async Task A_batchs_callers_are_answered_one_after_another_where_it_ends_not_each_through_the_thread_pool()
    {
        var go = new TaskCompletionSource();
        var batcher = new Batcher<int, int>(async (requests, _) =>
        {
            await go.Task;
            return [.. requests];
        }, maxBatch: 100, TimeSpan.FromMilliseconds(50), Patience, "echoes");

        var answers = Enumerable.Range(0, 100).Select(i => batcher.Submit(i, CancellationToken.None)).ToArray();
        // Whether the next caller was already answered when this one's continuation ran: not if continuations run
        // inline as each is answered; nearly always if each was queued to the pool while the loop answered the rest.
        var nextAnsweredFirst = answers.Take(99).Select((answer, i) =>
            answer.ContinueWith(_ => answers[i + 1].IsCompleted, TaskContinuationOptions.ExecuteSynchronously)).ToArray();
        go.SetResult();

        Assert.All(await Task.WhenAll(nextAnsweredFirst).WaitAsync(Patience), Assert.False);
        await batcher.StopAsync();
    }

    [Fact]
    public async Task A_batch_that_fails_or_hangs_fails_all_its_callers_and_the_next_batch_runs()
    {
        var calls = 0;
        var batcher = new Batcher<int, int>((requests, _) => Interlocked.Increment(ref calls) switch
        {
            1 => throw new InvalidOperationException("broken"),
            2 => new TaskCompletionSource<IReadOnlyList<int>>().Task,
            _ => Task.FromResult<IReadOnlyList<int>>([.. requests]),
        }, maxBatch: 10, TimeSpan.Zero, TimeSpan.FromMilliseconds(300), "echoes");

        var failed = await Assert.ThrowsAsync<InvalidOperationException>(() => batcher.Submit(1, CancellationToken.None));
        Assert.Equal("broken", failed.Message);
        await Assert.ThrowsAsync<TimeoutException>(() => batcher.Submit(2, CancellationToken.None).WaitAsync(Patience));
        Assert.Equal(3, await batcher.Submit(3, CancellationToken.None).WaitAsync(Patience));
        await batcher.StopAsync();
        await Assert.ThrowsAsync<InvalidOperationException>(() => batcher.Submit(4, CancellationToken.None));
    }
}
