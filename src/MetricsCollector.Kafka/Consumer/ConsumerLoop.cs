using System.Collections.Concurrent;
using Akka;
using Akka.Event;
using Akka.Streams.Dsl;
using Confluent.Kafka;

namespace MetricsCollector.Kafka.Consumer;

/// <summary>
/// Owns the Confluent consumer on one dedicated thread, because the consumer is not thread-safe
/// and its rebalance callbacks run inside <c>Consume</c> on the calling thread. Everything else
/// (commits, resumes, stop) reaches it through a queue that it drains between polls.
/// </summary>
internal sealed class ConsumerLoop : IConsumerControl
{
    internal interface ISink
    {
        void PartitionOpened(TopicPartition partition, Source<RecordBatch, NotUsed> records);

        void Finished(Exception? failure);
    }

    private abstract record Command;

    private sealed record CommitRequest(TopicPartition Partition, long NextOffset) : Command;

    private sealed record ResumeRequest(PartitionBuffer Buffer) : Command;

    private sealed record CancelRequest(PartitionBuffer Buffer) : Command;

    private sealed record DrainRequest(DateTime Deadline) : Command;

    private sealed record ReopenRequest(TopicPartition Partition, long Offset) : Command;

    private const int PausedPollTimeoutMs = 5;

    private readonly KafkaConsumerSettings _settings;
    private readonly ConcurrentQueue<Command> _commands = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Dictionary<TopicPartition, PartitionBuffer> _assigned = [];
    private readonly Dictionary<TopicPartition, Offset> _startOffsets = [];
    private readonly Dictionary<TopicPartition, long> _pendingCommits = [];
    private readonly Dictionary<int, TopicPartition> _singleTopicPartitions = [];
    private readonly HashSet<PartitionBuffer> _toWake = [];
    private readonly RecordBatch.Pool _batches;
    private ILoggingAdapter _log = NoLogger.Instance;
    private ISink? _sink;
    private IConsumer<byte[]?, byte[]?>? _consumer;
    private NativeRecordPoll? _native;
    private Thread? _thread;
    private volatile bool _stopRequested;
    private DateTime? _drainDeadline;
    private Exception? _fatal;
    private Exception? _startFailure;
    private DateTime _lastCommit = DateTime.MinValue;

    public ConsumerLoop(KafkaConsumerSettings settings)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.PartitionBufferSize, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.BatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfZero(settings.Topics.Count);
        _settings = settings;
        _batches = new RecordBatch.Pool(settings.BatchSize);
    }

    public Task Completion => _completion.Task;

    public void Start(ISink sink, ILoggingAdapter log)
    {
        _sink = sink;
        _log = log;
        _thread = new Thread(Run)
        {
            IsBackground = true,
            Name = $"kafka-consumer-{_settings.Config.GroupId}",
        };
        _thread.Start();
    }

    public long? HighWatermark(TopicPartition partition)
    {
        // rd_kafka_get_watermark_offsets reads librdkafka's cache under its own lock: safe from any thread.
        if (_consumer is not { } consumer) return null;
        try
        {
            var high = consumer.GetWatermarkOffsets(partition).High;
            return high == Offset.Unset ? null : high.Value;
        }
        catch (ObjectDisposedException)
        {
            // Closing as we asked: nothing more will be read anyway.
            return null;
        }
    }

    public void Commit(TopicPartition partition, long nextOffset) =>
        _commands.Enqueue(new CommitRequest(partition, nextOffset));

    public void Reopen(TopicPartition partition, long offset) => _commands.Enqueue(new ReopenRequest(partition, offset));

    public Task StopAsync()
    {
        _stopRequested = true;
        if (_thread is null)
        {
            _completion.TrySetResult();
        }

        return Completion;
    }

    public Task DrainAndShutdownAsync(TimeSpan timeout)
    {
        _commands.Enqueue(new DrainRequest(DateTime.UtcNow + timeout));
        return _thread is null ? StopAsync() : Completion;
    }

    internal void RequestResume(PartitionBuffer buffer) => _commands.Enqueue(new ResumeRequest(buffer));

    internal void SubstreamCancelled(PartitionBuffer buffer) => _commands.Enqueue(new CancelRequest(buffer));

    private void Run()
    {
        Exception? failure = null;
        try
        {
            using var consumer = Build();
            _consumer = consumer;
            _native = NativeRecordPoll.TryCreate(consumer, _settings.RecordBytes, readTopic: _settings.Topics.Count > 1, out var whyNot);
            if (whyNot is not null)
            {
                _log.Info("Records are taken through Confluent.Kafka's Consume ({0}): about 240 bytes more garbage a record", whyNot);
            }

            consumer.Subscribe(_settings.Topics);
            while (!_stopRequested && _fatal is null && _startFailure is null)
            {
                ServeCommands();
                if (DrainFinished())
                {
                    break;
                }

                CommitPending(force: false);
                Poll(consumer);
            }

            failure = _fatal ?? _startFailure;
            if (_fatal is null)
            {
                ServeCommands();
                CommitPending(force: true);
                // Close runs the revocation callback (substreams complete, the handler flushes and
                // commits) and leaves the group, so the others rebalance at once.
                consumer.Close();
            }
        }
        catch (Exception ex)
        {
            failure = ex;
        }
        finally
        {
            _consumer = null;
            _native = null;
            foreach (var buffer in _assigned.Values)
            {
                buffer.Complete(failure);
            }

            _assigned.Clear();
            _startOffsets.Clear();
        }

        if (failure is null)
        {
            _log.Info("Kafka consumer of group {0} stopped", _settings.Config.GroupId);
            _completion.TrySetResult();
        }
        else
        {
            _log.Error(failure, "Kafka consumer of group {0} failed", _settings.Config.GroupId);
            _completion.TrySetException(failure);
        }

        _sink?.Finished(failure);
    }

    private IConsumer<byte[]?, byte[]?> Build()
    {
        var builder = new ConsumerBuilder<byte[]?, byte[]?>(_settings.EffectiveConfig());
        if (_settings.RecordBytes is { } pool) builder.SetKeyDeserializer(pool).SetValueDeserializer(pool);
        return builder
            .SetPartitionsAssignedHandler((_, partitions) => OnAssigned(partitions))
            .SetPartitionsRevokedHandler((_, partitions) => OnRevoked(partitions, lost: false))
            .SetPartitionsLostHandler((_, partitions) => OnRevoked(partitions, lost: true))
            .SetErrorHandler((_, error) => OnError(error))
            .SetLogHandler((_, message) => OnLog(message))
            .Build();
    }

    private void Poll(IConsumer<byte[]?, byte[]?> consumer)
    {
        // A paused partition waits for this thread to see its resume request; a long blocking
        // poll would add its whole length to every pause.
        var timeout = (int)Math.Min(
            _settings.PollTimeout.TotalMilliseconds,
            _assigned.Values.Any(b => b.IsPaused) ? PausedPollTimeoutMs : double.MaxValue);
        try
        {
            // One blocking wait, then take what is already fetched without waiting, so that
            // substreams are woken once per batch rather than once per record. The wait goes through
            // Confluent's Consume, which rethrows what a rebalance left failed; the rest, when it can,
            // through librdkafka's poll itself (NativeRecordPoll).
            for (var n = 0; n < _settings.BatchSize; n++)
            {
                if (n > 0 && _native is { } native)
                {
                    if (!native.TryPoll(out var polled) || _startFailure is not null)
                    {
                        break;
                    }

                    if (polled.Error is not { } error)
                    {
                        Deliver(consumer, polled.Topic, polled.Partition, polled.Record);
                        continue;
                    }

                    if (error.Code == ErrorCode.Local_PartitionEOF)
                    {
                        continue;
                    }

                    if (error.IsFatal)
                    {
                        throw new KafkaException(error);
                    }

                    ConsumeFailed(error, polled.Topic, polled.Partition, polled.Record.Offset);
                    break;
                }

                var result = consumer.Consume(n == 0 ? timeout : 0);
                if (result is null || _startFailure is not null)
                {
                    break;
                }

                if (!result.IsPartitionEOF)
                {
                    var message = result.Message;
                    var timestamp = message.Timestamp.Type == TimestampType.NotAvailable ? KafkaRecord.NoTimestamp : message.Timestamp.UnixTimestampMs;
                    Deliver(consumer, result.Topic, result.Partition.Value, new KafkaRecord(result.Offset.Value, timestamp, message.Key, message.Value));
                }
            }
        }
        catch (ConsumeException ex) when (!ex.Error.IsFatal)
        {
            var at = ex.ConsumerRecord?.TopicPartitionOffset;
            ConsumeFailed(ex.Error, at?.Topic, at?.Partition.Value, at?.Offset.Value);
        }
        finally
        {
            foreach (var buffer in _toWake)
            {
                buffer.Wake();
            }

            _toWake.Clear();
        }
    }

    /// <summary>
    /// A consume error that librdkafka recovers from by itself, but for an offset that is no longer on the broker
    /// (<c>auto.offset.reset=error</c>): that one the settings' handler decides.
    /// </summary>
    private void ConsumeFailed(Confluent.Kafka.Error error, string? topic, int? partitionNumber, long? offset)
    {
        if (error.Code == ErrorCode.Local_AutoOffsetReset && partitionNumber is { } number && offset is { } at
            && PartitionOf(topic, number) is var partition && _assigned.ContainsKey(partition))
        {
            _log.Warning("Offset {0} of {1} is not on the broker: {2}", at, partition, error.Reason);
            _settings.OnOffsetOutOfRange?.Invoke(partition, at);
            return;
        }

        _log.Warning("Kafka consume error (librdkafka retries): {0}", error);
    }

    /// <summary>
    /// A record's (or a consume error's) partition with its topic. A consumer of one topic does not have
    /// Confluent.Kafka fill in each record's topic (<see cref="KafkaConsumerSettings.EffectiveConfig"/>):
    /// there it is that topic.
    /// </summary>
    private TopicPartition PartitionOf(string? topic, int partition)
    {
        if (topic is not null) return new TopicPartition(topic, partition);
        if (!_singleTopicPartitions.TryGetValue(partition, out var known))
            _singleTopicPartitions[partition] = known = new TopicPartition(_settings.Topics[0], partition);
        return known;
    }

    private void Deliver(IConsumer<byte[]?, byte[]?> consumer, string? topic, int partitionNumber, KafkaRecord record)
    {
        var partition = PartitionOf(topic, partitionNumber);
        if (!_assigned.TryGetValue(partition, out var buffer))
        {
            // Cannot happen while librdkafka honours its assignment; kept loud rather than silent.
            _log.Error("Record from unassigned partition {0} at offset {1}; not emitted", partition, record.Offset);
            return;
        }

        if (buffer.Add(record, out var wake))
        {
            consumer.Pause([partition]);
        }

        if (wake)
        {
            _toWake.Add(buffer);
        }
    }

    private void ServeCommands()
    {
        while (_commands.TryDequeue(out var command))
        {
            switch (command)
            {
                case CommitRequest commit:
                    if (!_assigned.ContainsKey(commit.Partition))
                    {
                        _log.Debug("Commit of {0} at {1} dropped: partition not assigned to this member", commit.Partition, commit.NextOffset);
                    }
                    else
                    {
                        _pendingCommits[commit.Partition] = commit.NextOffset;
                    }

                    break;
                case ResumeRequest resume when _drainDeadline is null && IsCurrent(resume.Buffer):
                    _consumer!.Resume([resume.Buffer.Partition]);
                    resume.Buffer.MarkResumed();
                    break;
                case CancelRequest cancelled when IsCurrent(cancelled.Buffer):
                    // Nobody reads this partition any more; stop fetching it rather than buffer without end.
                    _log.Warning("Substream of {0} was cancelled; the partition stays paused until it is reassigned", cancelled.Buffer.Partition);
                    _consumer!.Pause([cancelled.Buffer.Partition]);
                    cancelled.Buffer.MarkPaused();
                    break;
                case DrainRequest drain:
                    _drainDeadline = drain.Deadline;
                    break;
                case ReopenRequest reopen when _drainDeadline is null && _assigned.TryGetValue(reopen.Partition, out var old):
                    old.Complete();
                    Restart(_consumer!, new TopicPartitionOffset(reopen.Partition, reopen.Offset));
                    _startOffsets[reopen.Partition] = reopen.Offset;
                    if (old.IsPaused)
                    {
                        _consumer!.Resume([reopen.Partition]);
                    }

                    Open(reopen.Partition);
                    _log.Info("Reopened {0} at offset {1}", reopen.Partition, reopen.Offset);
                    break;
            }
        }
    }

    /// <summary>
    /// Points the partition's fetching at <paramref name="at"/>. Seek drops what was fetched for it, so records
    /// from before never surface; but after an offset out of range with <c>auto.offset.reset=error</c>
    /// librdkafka has stopped fetching the partition and refuses to seek it (Local_State), and only
    /// assigning it again starts it. Failing instead would end the consumer and every partition with it.
    /// The group's eager protocol allows no incremental assignment, so the whole assignment is made again,
    /// every other partition at the position it had reached (and paused again if it was).
    /// </summary>
    private void Restart(IConsumer<byte[]?, byte[]?> consumer, TopicPartitionOffset at)
    {
        try
        {
            consumer.Seek(at);
        }
        catch (KafkaException e) when (e.Error.Code == ErrorCode.Local_State)
        {
            _log.Info("{0} is not fetching ({1}); assigning it again at offset {2}", at.TopicPartition, e.Error.Reason, at.Offset.Value);
            var assignment = consumer.Assignment
                .Select(p => p.Equals(at.TopicPartition) ? at : new TopicPartitionOffset(p, PositionOf(consumer, p)))
                .ToList();
            consumer.Assign(assignment);
            var paused = _assigned.Values.Where(b => b.IsPaused && !b.Partition.Equals(at.TopicPartition)).Select(b => b.Partition).ToList();
            if (paused.Count > 0)
            {
                consumer.Pause(paused);
            }
        }
    }

    /// <summary>Where a partition's fetching has reached: after its last record handed over, else where it was assigned.</summary>
    private Offset PositionOf(IConsumer<byte[]?, byte[]?> consumer, TopicPartition partition)
    {
        var position = consumer.Position(partition);
        return position != Offset.Unset ? position : _startOffsets.GetValueOrDefault(partition, Offset.Unset);
    }

    private bool IsCurrent(PartitionBuffer buffer) =>
        _assigned.TryGetValue(buffer.Partition, out var current) && ReferenceEquals(current, buffer);

    /// <summary>While draining, keep every partition paused and stop once all fetched records were emitted.</summary>
    private bool DrainFinished()
    {
        if (_drainDeadline is not { } deadline)
        {
            return false;
        }

        var unpaused = _assigned.Values.Where(b => !b.IsPaused).ToList();
        if (unpaused.Count > 0)
        {
            _consumer!.Pause(unpaused.Select(b => b.Partition));
            unpaused.ForEach(b => b.MarkPaused());
        }

        if (_assigned.Values.All(b => b.Count == 0 || b.IsCompleted))
        {
            return true;
        }

        if (DateTime.UtcNow < deadline)
        {
            return false;
        }

        _log.Warning("Drain timed out with {0} records not emitted; they stay uncommitted", _assigned.Values.Sum(b => b.Count));
        return true;
    }

    private void CommitPending(bool force)
    {
        if (_pendingCommits.Count == 0 || (!force && DateTime.UtcNow - _lastCommit < _settings.CommitInterval))
        {
            return;
        }

        _lastCommit = DateTime.UtcNow;
        try
        {
            _consumer!.Commit(_pendingCommits.Select(kv => new TopicPartitionOffset(kv.Key, kv.Value)));

            _pendingCommits.Clear();
        }
        catch (TopicPartitionOffsetException ex)
        {
            foreach (var result in ex.Results)
            {
                if (!result.Error.IsError && _pendingCommits.TryGetValue(result.TopicPartition, out var sent) && sent == result.Offset.Value)
                {
                    _pendingCommits.Remove(result.TopicPartition);
                }
            }

            _log.Warning("Commit failed for some partitions, retried: {0}", string.Join(", ", ex.Results.Where(r => r.Error.IsError).Select(r => $"{r.TopicPartition}: {r.Error.Reason}")));
        }
        catch (KafkaException ex) when (!ex.Error.IsFatal)
        {
            // Broker or coordinator unavailable, or a rebalance under way: keep the offsets and retry.
            _log.Warning("Commit failed, retried: {0}", ex.Error);
        }
    }

    private List<TopicPartitionOffset> OnAssigned(List<TopicPartition> partitions)
    {
        IReadOnlyDictionary<TopicPartition, long> starts = new Dictionary<TopicPartition, long>();
        if (_settings.StartOffsets is { } provider && partitions.Count > 0)
        {
            using var cts = new CancellationTokenSource(_settings.StartOffsetsTimeout);
            try
            {
                var task = provider(partitions, cts.Token);
                if (!task.Wait(_settings.StartOffsetsTimeout))
                {
                    throw new TimeoutException($"The start-offsets provider did not answer within {_settings.StartOffsetsTimeout}.");
                }

                starts = task.Result;
            }
            catch (Exception ex)
            {
                // Not thrown to librdkafka: with a cooperative assignor Confluent.Kafka then never
                // completes the assignment, and closing the consumer waits for it for ever. The
                // partitions are taken without substreams, and the loop stops before it reads them.
                _startFailure = ex is AggregateException { InnerException: { } inner } ? inner : ex;
                return partitions.Select(p => new TopicPartitionOffset(p, Offset.Unset)).ToList();
            }
        }

        var assignment = new List<TopicPartitionOffset>(partitions.Count);
        foreach (var partition in partitions)
        {
            // Unset means: the committed offset, else auto.offset.reset.
            var start = starts.TryGetValue(partition, out var offset) ? new Offset(offset) : Offset.Unset;
            assignment.Add(new TopicPartitionOffset(partition, start));
            _startOffsets[partition] = start;
            Open(partition);
        }

        _log.Info("Assigned {0}", string.Join(", ", assignment));
        _settings.OnAssigned?.Invoke(partitions);
        return assignment;
    }

    /// <summary>A fresh buffer for the partition, and its substream downstream.</summary>
    private void Open(TopicPartition partition)
    {
        var buffer = new PartitionBuffer(partition, _settings.PartitionBufferSize, _batches);
        _assigned[partition] = buffer;
        KeepRecordBytesForBuffers();
        _sink!.PartitionOpened(partition, Akka.Streams.Dsl.Source.FromGraph(new PartitionSourceStage(buffer, RequestResume, SubstreamCancelled)));
    }

    private void OnRevoked(List<TopicPartitionOffset> revokedOffsets, bool lost)
    {
        var partitions = revokedOffsets.Select(p => p.TopicPartition).ToList();
        _log.Info("{0} {1}", lost ? "Lost" : "Revoked", string.Join(", ", partitions));
        var paused = new List<TopicPartition>();
        foreach (var partition in partitions)
        {
            if (_assigned.TryGetValue(partition, out var buffer))
            {
                if (buffer.IsPaused) paused.Add(partition);
                buffer.Complete();
            }
        }

        // librdkafka keeps an application's pause across a rebalance (it resets only its own): a
        // partition paused when it was revoked and then assigned here again would never be fetched,
        // while its new buffer, empty and unpaused, would never ask for a resume.
        if (paused.Count > 0)
        {
            _consumer!.Resume(paused);
        }

        if (_settings.OnRevoked is { } handler)
        {
            using var cts = new CancellationTokenSource(_settings.RevocationTimeout);
            try
            {
                if (!handler(partitions, lost, cts.Token).Wait(_settings.RevocationTimeout))
                {
                    _log.Warning("Revocation handler did not finish within {0}; handing over {1} anyway", _settings.RevocationTimeout, string.Join(", ", partitions));
                }
            }
            catch (AggregateException ex)
            {
                _log.Warning(ex.GetBaseException(), "Revocation handler failed; handing over {0} anyway", string.Join(", ", partitions));
            }
        }

        ServeCommands();
        if (lost)
        {
            foreach (var partition in partitions.Where(_pendingCommits.Remove))
            {
                _log.Debug("Commit for lost partition {0} dropped", partition);
            }
        }
        else
        {
            CommitPending(force: true);
        }

        foreach (var partition in partitions)
        {
            _assigned.Remove(partition);
            _startOffsets.Remove(partition);
            _pendingCommits.Remove(partition);
        }

        KeepRecordBytesForBuffers();
    }

    /// <summary>The record byte pool keeps what the buffers of the partitions held now take when full: a key and a value a record.</summary>
    private void KeepRecordBytesForBuffers() =>
        _settings.RecordBytes?.KeepAtMost((int)Math.Min(int.MaxValue, 2L * _settings.PartitionBufferSize * _assigned.Count));

    private void OnError(Confluent.Kafka.Error error)
    {
        if (error.IsFatal)
        {
            _fatal ??= new KafkaException(error);
        }
        else
        {
            _log.Warning("Kafka consumer: {0} (librdkafka retries)", error);
        }
    }

    // librdkafka reports a lost connection at error level although it reconnects by itself;
    // what is really fatal arrives through the error handler, so its log is capped at Warning.
    private void OnLog(Confluent.Kafka.LogMessage message)
    {
        var level = message.Level switch
        {
            SyslogLevel.Emergency or SyslogLevel.Alert or SyslogLevel.Critical or SyslogLevel.Error or SyslogLevel.Warning => LogLevel.WarningLevel,
            SyslogLevel.Notice or SyslogLevel.Info => LogLevel.InfoLevel,
            _ => LogLevel.DebugLevel,
        };
        _log.Log(level, "librdkafka {0} {1}: {2}", [message.Name, message.Facility, message.Message]);
    }
}
