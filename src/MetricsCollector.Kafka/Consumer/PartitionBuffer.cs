using Confluent.Kafka;

namespace MetricsCollector.Kafka.Consumer;

/// <summary>
/// The hand-over between the consumer thread (producer side) and one partition's substream
/// stage (consumer side). It is also where per-partition backpressure is decided: the consumer
/// thread pauses the partition when the buffer fills, the stage asks for a resume once it has
/// drained to half. One buffer lives for one assignment of the partition. The stage takes what
/// is there, up to a batch's capacity of records, as one batch (from <paramref name="batches"/>): the
/// unit its downstream handles and acknowledges.
/// </summary>
internal sealed class PartitionBuffer(TopicPartition partition, int capacity, RecordBatch.Pool batches)
{
    internal enum Take { Batch, Empty, Completed }

    private readonly Lock _gate = new();
    private readonly Queue<KafkaRecord> _records = new();
    private Action? _wakeup;
    private bool _stageWaiting;
    private bool _completed;
    private Exception? _failure;
    private bool _paused;
    private bool _resumeRequested;

    public TopicPartition Partition { get; } = partition;

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _records.Count;
            }
        }
    }

    /// <summary>Consumer thread. Returns whether the partition must be paused now.</summary>
    public bool Add(in KafkaRecord record, out bool wake)
    {
        lock (_gate)
        {
            // Records that librdkafka already fetched are kept even past capacity: dropping any
            // would lose it, since fetching resumes after the last record handed to us.
            _records.Enqueue(record);
            wake = _stageWaiting;
            _stageWaiting = false;
            if (_paused || _records.Count < capacity)
            {
                return false;
            }

            _paused = true;
            return true;
        }
    }

    /// <summary>Consumer thread, after it resumed fetching.</summary>
    public void MarkResumed()
    {
        lock (_gate)
        {
            _paused = false;
            _resumeRequested = false;
        }
    }

    /// <summary>Consumer thread, when it pauses the partition for a reason of its own (draining).</summary>
    public void MarkPaused()
    {
        lock (_gate)
        {
            _paused = true;
            _resumeRequested = true;
        }
    }

    /// <summary>
    /// Ends the substream. Records not yet emitted are discarded: the partition's next owner
    /// reads them again from the committed offset.
    /// </summary>
    public void Complete(Exception? failure = null)
    {
        Action? wakeup;
        lock (_gate)
        {
            if (_completed)
            {
                return;
            }

            _completed = true;
            _failure = failure;
            _records.Clear();
            wakeup = _wakeup;
        }

        wakeup?.Invoke();
    }

    public bool IsCompleted
    {
        get
        {
            lock (_gate)
            {
                return _completed;
            }
        }
    }

    public bool IsPaused
    {
        get
        {
            lock (_gate)
            {
                return _paused;
            }
        }
    }

    /// <summary>Consumer thread, once per batch: lets a stage that found the buffer empty look again.</summary>
    public void Wake()
    {
        Action? wakeup;
        lock (_gate)
        {
            wakeup = _wakeup;
        }

        wakeup?.Invoke();
    }

    /// <summary>Stage side. Returns whether the buffer already completed before the stage started.</summary>
    public bool Attach(Action wakeup)
    {
        lock (_gate)
        {
            _wakeup = wakeup;
            return _completed;
        }
    }

    /// <summary>
    /// Stage side: every record buffered, up to the batch size, in order. <paramref name="requestResume"/>
    /// is set once per pause, when the buffer has drained to half.
    /// </summary>
    public Take TryTake(out RecordBatch? batch, out bool requestResume, out Exception? failure)
    {
        lock (_gate)
        {
            requestResume = false;
            failure = _failure;
            batch = null;
            if (_completed)
            {
                return Take.Completed;
            }

            if (_records.Count == 0)
            {
                _stageWaiting = true;
                return Take.Empty;
            }

            var taken = batches.Take();
            for (var n = Math.Min(batches.Capacity, _records.Count); n > 0; n--)
            {
                taken.Add(_records.Dequeue());
            }

            batch = taken;

            if (_paused && !_resumeRequested && _records.Count <= capacity / 2)
            {
                _resumeRequested = true;
                requestResume = true;
            }

            return Take.Batch;
        }
    }
}
