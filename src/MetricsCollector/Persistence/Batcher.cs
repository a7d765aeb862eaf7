using System.Threading.Channels;

namespace MetricsCollector.Persistence;

/// <summary>
/// Gathers concurrent requests into batches and runs one batch at a time: a partition that starts,
/// hands over or snapshots touches a thousand devices at once, and one statement or transaction for
/// all of them costs about what one costs for a single device. While a batch runs, the next one
/// gathers, so the busier the store, the larger its batches; a lone request waits at most
/// <c>batchDelay</c> for company. One batch at a time also keeps the requests of one key in the
/// order they were made (a save that follows another of the same actor never overtakes it).
/// </summary>
/// <remarks>
/// Every caller's task ends: with its batch's result, with its batch's exception (a batch that fails
/// fails all its callers), as canceled when its own token fires (a request whose batch has not started
/// is then left out; one already running is still written, its caller no longer waiting), or with a
/// <see cref="TimeoutException"/> when its batch takes longer than <c>timeout</c>, even if the
/// database call behind it ignores its token, and the next batch starts then.
/// </remarks>
internal sealed class Batcher<TRequest, TResult>
{
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Func<IReadOnlyList<TRequest>, CancellationToken, Task<IReadOnlyList<TResult>>> _run;
    private readonly int _maxBatch;
    private readonly TimeSpan _batchDelay;
    private readonly TimeSpan _timeout;
    private readonly string _what;
    private readonly Task _loop;

    /// <param name="run">Runs one batch and answers each request, in the order given.</param>
    /// <param name="what">Names the batches in errors (<c>snapshot saves</c>).</param>
    public Batcher(Func<IReadOnlyList<TRequest>, CancellationToken, Task<IReadOnlyList<TResult>>> run, int maxBatch, TimeSpan batchDelay, TimeSpan timeout, string what)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        _run = run;
        _maxBatch = maxBatch;
        _batchDelay = batchDelay;
        _timeout = timeout;
        _what = what;
        _loop = Task.Run(LoopAsync);
    }

    public Task<TResult> Submit(TRequest request, CancellationToken ct)
    {
        var pending = new Pending(request, ct);
        if (!_queue.Writer.TryWrite(pending)) pending.Fail(new InvalidOperationException($"the {_what} have stopped"));
        return pending.Task;
    }

    /// <summary>Takes no more requests; ends once those already taken have been run.</summary>
    public Task StopAsync()
    {
        _queue.Writer.TryComplete();
        return _loop;
    }

    private async Task LoopAsync()
    {
        var batch = new List<Pending>(_maxBatch);
        while (await _queue.Reader.WaitToReadAsync())
        {
            await GatherAsync(batch);
            batch.RemoveAll(p => p.Task.IsCompleted);
            if (batch.Count > 0) await RunAsync(batch);
            batch.Clear();
        }
    }

    private async Task GatherAsync(List<Pending> batch)
    {
        var deadline = DateTime.UtcNow + _batchDelay;
        while (batch.Count < _maxBatch)
        {
            if (_queue.Reader.TryRead(out var next))
            {
                batch.Add(next);
                continue;
            }
            var left = deadline - DateTime.UtcNow;
            if (batch.Count > 0 && left <= TimeSpan.Zero) return;
            using var wait = new CancellationTokenSource(left > TimeSpan.Zero ? left : Timeout.InfiniteTimeSpan);
            try
            {
                if (!await _queue.Reader.WaitToReadAsync(wait.Token)) return;
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task RunAsync(List<Pending> batch)
    {
        var requests = new TRequest[batch.Count];
        for (var i = 0; i < batch.Count; i++) requests[i] = batch[i].Request;
        using var timeout = new CancellationTokenSource(_timeout);
        try
        {
            // On a thread of its own: Microsoft.Data.Sqlite's async calls complete synchronously, so a batch
            // that waits for SQLite's lock or disk would otherwise hold this loop past its timeout, or a
            // thread of the pool the node's actors run on (a thousand devices starting stalled for seconds).
            var results = await Task.Factory
                .StartNew(() => _run(requests, timeout.Token), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)
                .Unwrap().WaitAsync(_timeout);
            for (var i = 0; i < batch.Count; i++) batch[i].Succeed(results[i]);
        }
        catch (Exception e)
        {
            var cause = e is TimeoutException || (e is OperationCanceledException && timeout.IsCancellationRequested)
                ? new TimeoutException($"{batch.Count} {_what} took longer than {_timeout.TotalSeconds:0.###} s", e)
                : e;
            foreach (var pending in batch) pending.Fail(cause);
        }
    }

    private sealed class Pending
    {
        // Callers' continuations run where the batch ends, one after another: each is short (Akka's snapshot
        // store tells the device its answer), and queued each to the thread pool a thousand-request batch put a
        // thousand work items in front of everything else there, the API's requests among them.
        private readonly TaskCompletionSource<TResult> _done = new();
        private readonly CancellationTokenRegistration _canceled;

        public Pending(TRequest request, CancellationToken ct)
        {
            Request = request;
            if (ct.CanBeCanceled) _canceled = ct.Register(() => _done.TrySetCanceled(ct));
        }

        public TRequest Request { get; }

        public Task<TResult> Task => _done.Task;

        public void Succeed(TResult result)
        {
            _done.TrySetResult(result);
            _canceled.Dispose();
        }

        public void Fail(Exception cause)
        {
            _done.TrySetException(cause);
            _canceled.Dispose();
        }
    }
}
