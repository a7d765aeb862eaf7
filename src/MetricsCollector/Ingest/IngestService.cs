using System.Collections.Concurrent;
using System.Collections.Immutable;
using Akka;
using Akka.Actor;
using Akka.Cluster.Sharding.External;
using Akka.Hosting;
using Akka.Streams;
using Akka.Streams.Dsl;
using Confluent.Kafka;
using MetricsCollector.Configuration;
using MetricsCollector.Devices;
using MetricsCollector.Hosting;
using MetricsCollector.Kafka;
using MetricsCollector.Kafka.Consumer;
using MetricsCollector.Observability;
using MetricsCollector.Partitions;
using MetricsCollector.ReadSide;

namespace MetricsCollector.Ingest;

/// <summary>
/// Runs the node's Kafka consumer: one partition actor per assigned partition, fed by that
/// partition's substream in batches with backpressure (one ack per batch). Where a partition
/// starts comes from its checkpoint in the store, checked against the log as the broker has it
/// (a replaced log is read anew, as a new generation); on revocation or shutdown each partition
/// flushes (devices snapshot, offsets commit) before the group hands it over. A partition actor
/// that ends asking to be read again (a device lost state, it failed, its log was replaced) is
/// started again from its last commit on the same assignment, so that no partition hangs.
/// It also watches the topic's partition count and tells the top-N singleton.
/// </summary>
public sealed class IngestService : IHostedService, IAsyncDisposable
{
    private readonly CollectorSettings _settings;
    private readonly ActorSystem _system;
    private readonly ActorRegistry _registry;
    private readonly IPartitionProgressStore _progress;
    private readonly CollectorMetrics _metrics;
    private readonly NodeReadiness _readiness;
    private readonly InputTopic _topic;
    private readonly WriteBacklog _backlog;
    private readonly ILogger<IngestService> _log;
    private readonly AssignmentStarts _starts = new();
    private readonly ConcurrentDictionary<TopicPartition, PartitionContext> _running = new();
    private readonly ConcurrentDictionary<TopicPartition, (int Count, DateTime Last)> _readAgain = new();
    private readonly ConcurrentDictionary<TopicPartition, long> _outOfRangeAt = new();
    private readonly CancellationTokenSource _stop = new();
    // Shared by the consumer, which fills its arrays, and the partitions, which hand them back.
    private readonly RecordBytePool _recordBytes = new();
    private KafkaSideOutput? _sideOutput;
    private TopicInspector? _inspector;
    private IActorRef _topN = ActorRefs.Nobody;
    private ShardHandOver? _handOver;
    private string _epoch = "";
    private volatile IConsumerControl? _control;
    private volatile bool _stopping;

    public IngestService(
        CollectorSettings settings,
        ActorSystem system,
        ActorRegistry registry,
        IPartitionProgressStore progress,
        CollectorMetrics metrics,
        NodeReadiness readiness,
        InputTopic topic,
        WriteBacklog backlog,
        ILogger<IngestService> log)
    {
        _settings = settings;
        _system = system;
        _registry = registry;
        _progress = progress;
        _metrics = metrics;
        _readiness = readiness;
        _topic = topic;
        _backlog = backlog;
        _log = log;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _readiness.ClusterUp.WaitAsync(cancellationToken);
        var devices = await _registry.GetAsync<DeviceRegion>(cancellationToken);
        var topN = await _registry.GetAsync<TopNProxy>(cancellationToken);
        var bootstrap = _readiness.KafkaBootstrap;
        await Hosting.PersistenceWarmUp.RunAsync(_system, _settings, cancellationToken);

        var clients = new KafkaClients(bootstrap, _settings.KafkaClientProperties);
        _epoch = await BrokerIdentity.ClusterIdAsync(clients, TimeSpan.FromSeconds(30)).WaitAsync(cancellationToken);
        _sideOutput = new KafkaSideOutput(clients);
        _inspector = new TopicInspector(clients.Consumer("metrics-collector-inspector"), reportsTopicIds: !BrokerIdentity.IsMock(_epoch));
        _topN = topN;
        _handOver = new ShardHandOver(devices, Akka.Cluster.Cluster.Get(_system), _log);
        var consumer = new KafkaConsumerSettings
        {
            Config = ConsumerConfigOf(clients, _settings, _epoch),
            Topics = [_settings.Topic],
            PartitionBufferSize = _settings.PartitionBuffer,
            BatchSize = _settings.ConsumerBatchSize,
            RecordBytes = _recordBytes,
            StartOffsets = LoadStartsAsync,
            OnRevoked = FlushRevokedAsync,
            OnOffsetOutOfRange = (partition, offset) =>
            {
                if (!_running.TryGetValue(partition, out var context)) return;
                // Read back once the actor has ended: retention overtaking it is not a replaced log.
                _outOfRangeAt[partition] = offset;
                context.Abandoned.TrySetResult();
            },
            OnAssigned = _ => _readiness.MarkAssigned(),
        };

        RunConsumer(consumer, devices, topN, _system.Materializer());
        _ = WatchTopicAsync(_stop.Token);
        _log.LogInformation("Consuming {Topic} from {Bootstrap} as group {Group} (session timeout {Session} ms)",
            _settings.Topic, bootstrap, _settings.GroupId, consumer.Config.SessionTimeoutMs);
    }

    /// <summary>The group consumer's configuration: the node's Kafka client properties, and what the group needs.</summary>
    internal static ConsumerConfig ConsumerConfigOf(KafkaClients clients, CollectorSettings settings, string epoch) =>
        new(clients.Consumer(settings.GroupId))
        {
            // Every start offset comes from a checkpoint; one the broker no longer has means the log
            // was replaced or cut under it, which OnOffsetOutOfRange handles rather than librdkafka silently.
            AutoOffsetReset = AutoOffsetReset.Error,
            // How soon partitions added to the topic, or a topic created again, are seen and assigned.
            TopicMetadataRefreshIntervalMs = (int)settings.MetadataRefresh.TotalMilliseconds,
            // A dead node's partitions wait for its session to expire.
            SessionTimeoutMs = (int)(settings.KafkaSessionTimeout ?? BrokerIdentity.SessionTimeoutFor(epoch)).TotalMilliseconds,
            // Survivors learn of a rebalance from a heartbeat's answer; the sooner they rejoin,
            // the likelier the first assignment includes them all.
            HeartbeatIntervalMs = 500,
        };

    /// <summary>
    /// Runs the consumer, and runs a new one when it fails: a node that stopped consuming would
    /// otherwise sit in the cluster holding nothing while its share of the stream waits. The
    /// failed consumer's partitions flush as on a revocation, and the new one starts them again
    /// from their checkpoints.
    /// </summary>
    private void RunConsumer(KafkaConsumerSettings consumer, IActorRef devices, IActorRef topN, IMaterializer materializer)
    {
        var control = KafkaSource.CommittablePartitioned(consumer)
            .To(Sink.ForEach<(TopicPartition Partition, Source<RecordBatch, NotUsed> Records)>(
                assigned => StartPartition(assigned.Partition, assigned.Records, devices, topN, materializer)))
            .Run(materializer);
        _control = control;
        _metrics.WatchConsumer(control, _settings.Topic);
        _readiness.Consuming = true;
        _ = control.Completion.ContinueWith(
            async t =>
            {
                _readiness.Consuming = false;
                if (!t.IsFaulted || ShuttingDown) return;
                _log.LogError(t.Exception, "Kafka consumer failed; a new one starts in {Delay}", _settings.ConsumerRestartDelay);
                await Task.Delay(_settings.ConsumerRestartDelay);
                if (!ShuttingDown) RunConsumer(consumer, devices, topN, materializer);
            },
            TaskScheduler.Default);
    }

    // A node downed by the split-brain resolver terminates its actor system without stopping the host first.
    private bool ShuttingDown => _stopping || _system.WhenTerminated.IsCompleted;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        await _stop.CancelAsync();
        _readiness.Consuming = false;
        if (_control is not null)
        {
            // Drain what was fetched, then every partition flushes before the consumer leaves the group.
            await _control.DrainAndShutdownAsync(TimeSpan.FromSeconds(10)).WaitAsync(cancellationToken);
            _log.LogInformation("Kafka consumer stopped; every partition flushed");
        }
    }

    public ValueTask DisposeAsync()
    {
        _sideOutput?.Dispose();
        _inspector?.Dispose();
        _stop.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// The topic's partitions as the broker has them, told to the top-N singleton: "fired on every
    /// partition" means these, not a configured count. Polled; partitions added later are assigned by
    /// the group on its own metadata refresh.
    /// </summary>
    private async Task WatchTopicAsync(CancellationToken ct)
    {
        var known = -1;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var count = await Task.Run(() => _inspector!.PartitionCount(_settings.Topic), ct);
                if (count != known)
                {
                    if (known >= 0) _log.LogInformation("Topic {Topic} now has {Count} partitions (had {Known})", _settings.Topic, count, known);
                    known = count;
                }
                _topic.Partitions = count;
                _topN.Tell(new TopicPartitions(count));
            }
            catch (KafkaException e)
            {
                _log.LogWarning("Could not read the partition count of {Topic}: {Reason}", _settings.Topic, e.Error.Reason);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                await Task.Delay(_settings.MetadataRefresh, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task<IReadOnlyDictionary<TopicPartition, long>> LoadStartsAsync(IReadOnlyList<TopicPartition> partitions, CancellationToken ct)
    {
        var starts = new Dictionary<TopicPartition, long>();
        foreach (var partition in partitions)
        {
            // Still running only when a failed consumer left it behind: its flush saves the
            // checkpoint this start must read.
            if (_running.TryRemove(partition, out var previous))
            {
                previous.Revoked.TrySetResult();
                await previous.Ended.Task.WaitAsync(ct);
            }
            var progress = await LoadStartAsync(partition, ct);
            _starts.Set(partition, progress);
            starts[partition] = progress.Offset;
        }
        // The partitions' shards move here before their records flow, so devices run where their records arrive.
        var self = Akka.Cluster.Cluster.Get(_system).SelfAddress;
        await ExternalShardAllocation.Get(_system).ClientFor(DeviceShardMessageExtractor.TypeName)
            .UpdateShardLocations(partitions.ToImmutableDictionary(p => DeviceShardMessageExtractor.ShardOf(p.Partition.Value), _ => self))
            .WaitAsync(ct);
        _log.LogInformation("Assigned partitions {Partitions}", string.Join(",", partitions.Select(p => p.Partition.Value)));
        return starts;
    }

    /// <summary>
    /// Where a partition starts: its checkpoint (without one, the beginning: the store is the truth
    /// about what was processed, whatever offsets the broker remembers), checked against the log as the
    /// broker has it now. A log that ends below the checkpoint, or a topic with a new id, was replaced:
    /// it is read from its start as a new generation. A log that starts above it lost records to
    /// retention before they were read: reading goes on from its start.
    /// </summary>
    private async Task<PartitionProgress> LoadStartAsync(TopicPartition partition, CancellationToken ct)
    {
        var stored = await LoadCheckpointAsync(partition, ct);
        var progress = stored?.On(_epoch) ?? PartitionProgress.Beginning(_epoch);
        var number = partition.Partition.Value;
        if (stored is not null && stored.Epoch != _epoch)
            _log.LogWarning("Partition {Partition}: its checkpoint is from broker cluster {Old}, this is {New}; reading it from the beginning",
                number, stored.Epoch, _epoch);
        long start, end;
        string? topicId;
        try
        {
            (start, end) = await Task.Run(() => _inspector!.LogRange(partition), ct);
            topicId = await _inspector!.TopicIdAsync(partition.Topic);
        }
        catch (KafkaException e)
        {
            // Not fatal: a log that changed still shows when its offset is out of range.
            _log.LogWarning("Partition {Partition}: could not read its log's range ({Reason}); starting at offset {Offset} unchecked", number, e.Error.Reason, progress.Offset);
            return progress;
        }
        var newId = topicId is not null && progress.TopicId is not null && topicId != progress.TopicId;
        if (stored is not null && (progress.Offset > end || newId))
        {
            _metrics.AddLogReplaced();
            _log.LogWarning("Partition {Partition}: its log was replaced ({Why}); reading the new log from offset {Start} as generation {Generation}",
                number, newId ? $"the topic's id is now {topicId}, was {progress.TopicId}" : $"it ends at offset {end}, below the checkpoint at {progress.Offset}",
                start, progress.LogGeneration + 1);
            return progress.Replaced(start, topicId);
        }
        if (progress.Offset < start)
        {
            _log.LogWarning("Partition {Partition}: offsets {From} to {To} were deleted by retention before they were read; reading on from {To}",
                number, progress.Offset, start - 1, start);
            progress = progress with { Offset = start };
        }
        return topicId is null ? progress : progress with { TopicId = topicId };
    }

    /// <summary>
    /// A partition's checkpoint, waiting for the store while it is down: the assignment holds
    /// (the group's heartbeats go on meanwhile), where failing it would stop the consumer.
    /// </summary>
    private async Task<PartitionProgress?> LoadCheckpointAsync(TopicPartition partition, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await _progress.LoadAsync(KeyOf(partition)).WaitAsync(ct);
            }
            catch (StoreUnavailableException e)
            {
                var delay = TimeSpan.FromSeconds(Math.Min(attempt, 5));
                if (attempt == 1) _log.LogWarning(e, "Partition {Partition}: its checkpoint cannot be read; retrying until the store answers", partition.Partition.Value);
                await Task.Delay(delay, ct);
            }
        }
    }

    private void StartPartition(
        TopicPartition partition,
        Source<RecordBatch, NotUsed> records,
        IActorRef devices,
        IActorRef topN,
        IMaterializer materializer)
    {
        var start = _starts.For(partition);
        if (start is null)
        {
            // Every assignment reads a start before its substream opens; without one, say so rather than start blind.
            _log.LogWarning("Partition {Partition}: no checkpoint was read for it; starting at the beginning of the log", partition.Partition.Value);
            start = PartitionProgress.Beginning(_epoch);
        }
        var stopWaiting = new CancellationTokenSource();
        var context = new PartitionContext
        {
            TopicPartition = partition,
            ProgressKey = KeyOf(partition),
            RecordBytes = _recordBytes,
            Epoch = _epoch,
            Devices = devices,
            ShardReady = _handOver!.WaitUntilOnlyHereAsync(DeviceShardMessageExtractor.ShardOf(partition.Partition.Value), stopWaiting.Token),
            TopN = topN,
            SideOutput = _sideOutput!,
            Consumer = _control!,
            Progress = _progress,
            Windows = _settings.Windows,
            MaxOutOfOrderness = (long)_settings.MaxOutOfOrderness.TotalMilliseconds,
            IdleTimeout = (long)_settings.IdleTimeout.TotalMilliseconds,
            MaxFutureSkew = (long)_settings.MaxFutureSkew.TotalMilliseconds,
            MaxInFlight = _settings.Partition.InFlightLimit,
            ResendAfter = _settings.Partition.DeviceResendAfter,
            CommitInterval = _settings.Partition.CommitInterval,
            CommitStallWarning = _settings.Partition.CommitStallWarning,
            PassivateAfter = _settings.PassivateAfter,
            FlushTimeout = _settings.Partition.RevokedFlushTimeout,
            Sides = _settings.Partition.Sides,
            Backlog = _backlog,
            HeldBackChanged = held =>
            {
                _metrics.SetHeldBack(partition.Partition.Value, held);
                if (held) _readiness.HoldBack(partition.Partition.Value, "a side record keeps failing");
                else _readiness.Release(partition.Partition.Value);
            },
            DeadLetterTopic = _settings.DeadLetterTopic,
            TooLateTopic = _settings.TooLateTopic,
            Metrics = _metrics,
        };
        _running[partition] = context;
        _ = context.Ended.Task.ContinueWith(ended =>
        {
            stopWaiting.Cancel();
            stopWaiting.Dispose();
            if (ended.Result.ReadAgain) _ = ReadAgainAsync(partition, context, ended.Result);
        }, TaskScheduler.Default);
        var actor = _system.ActorOf(PartitionActor.Props(context, start).WithDispatcher(PipelineDispatcher.Path), $"partition-{partition.Partition.Value}-{Guid.NewGuid():N}");
        // Batches come from the substream as the consumer buffered them: one acknowledgement each.
        records.RunWith(Sink.ActorRefWithAck<RecordBatch>(
            actor, StreamInit.Instance, StreamAck.Instance, StreamCompleted.Instance, e => new StreamFailed(e)), materializer);
    }

    private async Task FlushRevokedAsync(IReadOnlyList<TopicPartition> partitions, bool lost, CancellationToken ct)
    {
        var flushing = new List<Task>();
        foreach (var partition in partitions)
        {
            _outOfRangeAt.TryRemove(partition, out _);
            if (!_running.TryRemove(partition, out var context)) continue;
            context.Revoked.TrySetResult();
            flushing.Add(context.Ended.Task);
        }
        try
        {
            await Task.WhenAll(flushing).WaitAsync(ct);
        }
        catch (OperationCanceledException)
        {
            _log.LogWarning("Partitions {Partitions} did not flush in time; their next owner replays from the last commit",
                string.Join(",", partitions.Select(p => p.Partition.Value)));
        }
        _log.LogInformation("Revoked partitions {Partitions}{Lost}", string.Join(",", partitions.Select(p => p.Partition.Value)), lost ? " (lost)" : "");
    }

    /// <summary>
    /// A partition actor ended asking to be read again while its partition is still assigned here: once
    /// the side records its actor had in flight have landed (the next one reads them back), the partition
    /// starts again from its checkpoint, after the wait <see cref="ReadAgainDelay"/> gives.
    /// </summary>
    private async Task ReadAgainAsync(TopicPartition partition, PartitionContext ended, PartitionEnd end)
    {
        if (ShuttingDown || !_running.TryGetValue(partition, out var current) || current != ended) return;
        try
        {
            long? outOfRangeAt = _outOfRangeAt.TryRemove(partition, out var at) ? at : null;
            var logStart = outOfRangeAt is null ? null : await LogStartAsync(partition);
            if (ReadAgainDelay.OvertakenByRetention(outOfRangeAt, logStart))
            {
                _log.LogWarning("Partition {Partition}: retention deleted offset {Offset} before it was read (the log now starts at {Start}); reading on from its last commit at once",
                    partition.Partition.Value, outOfRangeAt, logStart);
            }
            else
            {
                var now = DateTime.UtcNow;
                var (count, last) = _readAgain.GetValueOrDefault(partition);
                count = now - last > TimeSpan.FromMinutes(2) ? 1 : count + 1;
                _readAgain[partition] = (count, now);
                var delay = ReadAgainDelay.For(count, outOfRangeAt, logStart, _settings.Partition.ReadAgainMaxDelay);
                _log.LogWarning("Partition {Partition} ended ({Why}); reading it again from its last commit{Delay}",
                    partition.Partition.Value, end.Why, delay > TimeSpan.Zero ? $" in {delay.TotalSeconds:0} s" : "");
                await Task.Delay(delay, _stop.Token);
            }
            await Task.Run(() => _sideOutput!.Flush(TimeSpan.FromSeconds(30)), _stop.Token);
            var progress = await LoadStartAsync(partition, _stop.Token);
            if (!_running.TryGetValue(partition, out current) || current != ended) return;
            _starts.Set(partition, progress);
            _control?.Reopen(partition, progress.Offset);
        }
        catch (OperationCanceledException)
        {
            // The node stops: the next owner reads the partition from its checkpoint.
        }
    }

    /// <summary>The partition's first offset now; null when the broker does not say (the caller then backs off as for any end).</summary>
    private async Task<long?> LogStartAsync(TopicPartition partition)
    {
        try
        {
            return (await Task.Run(() => _inspector!.LogRange(partition), _stop.Token)).Start;
        }
        catch (KafkaException e)
        {
            _log.LogWarning("Partition {Partition}: could not read its log's range ({Reason})", partition.Partition.Value, e.Error.Reason);
            return null;
        }
    }

    private string KeyOf(TopicPartition partition) => PartitionProgress.KeyOf(_settings.GroupId, partition.Topic, partition.Partition.Value);
}

/// <summary>Registry key for the device shard region.</summary>
public sealed class DeviceRegion;
