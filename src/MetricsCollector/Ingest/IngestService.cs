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
/// starts comes from its checkpoint in the store; on revocation or shutdown each partition
/// flushes (devices snapshot, offsets commit) before the group hands it over.
/// </summary>
public sealed class IngestService : IHostedService, IAsyncDisposable
{
    private readonly CollectorSettings _settings;
    private readonly ActorSystem _system;
    private readonly ActorRegistry _registry;
    private readonly IPartitionProgressStore _progress;
    private readonly CollectorMetrics _metrics;
    private readonly NodeReadiness _readiness;
    private readonly ILogger<IngestService> _log;
    private readonly ConcurrentDictionary<TopicPartition, PartitionProgress> _starts = new();
    private readonly ConcurrentDictionary<TopicPartition, PartitionContext> _running = new();
    private KafkaSideOutput? _sideOutput;
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
        ILogger<IngestService> log)
    {
        _settings = settings;
        _system = system;
        _registry = registry;
        _progress = progress;
        _metrics = metrics;
        _readiness = readiness;
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
        _handOver = new ShardHandOver(devices, Akka.Cluster.Cluster.Get(_system), _log);
        var consumer = new KafkaConsumerSettings
        {
            Config = ConsumerConfigOf(clients, _settings, _epoch),
            Topics = [_settings.Topic],
            PartitionBufferSize = _settings.PartitionBuffer,
            StartOffsets = LoadStartsAsync,
            OnRevoked = FlushRevokedAsync,
        };

        RunConsumer(consumer, devices, topN, _system.Materializer());
        _log.LogInformation("Consuming {Topic} from {Bootstrap} as group {Group} (session timeout {Session} ms)",
            _settings.Topic, bootstrap, _settings.GroupId, consumer.Config.SessionTimeoutMs);
    }

    /// <summary>The group consumer's configuration: the node's Kafka client properties, and what the group needs.</summary>
    internal static ConsumerConfig ConsumerConfigOf(KafkaClients clients, CollectorSettings settings, string epoch) =>
        new(clients.Consumer(settings.GroupId))
        {
            AutoOffsetReset = AutoOffsetReset.Earliest,
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
            .To(Sink.ForEach<(TopicPartition Partition, Source<ConsumeResult<byte[]?, byte[]?>, NotUsed> Records)>(
                assigned => StartPartition(assigned.Partition, assigned.Records, devices, topN, materializer)))
            .Run(materializer);
        _control = control;
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
        return ValueTask.CompletedTask;
    }

    private async Task<IReadOnlyDictionary<TopicPartition, long>> LoadStartsAsync(IReadOnlyList<AssignedPartition> assigned, CancellationToken ct)
    {
        var starts = new Dictionary<TopicPartition, long>();
        var partitions = assigned.Select(a => a.Partition).ToList();
        foreach (var partition in partitions)
        {
            // Still running only when a failed consumer left it behind: its flush saves the
            // checkpoint this start must read.
            if (_running.TryRemove(partition, out var previous))
            {
                previous.Revoked.TrySetResult();
                await previous.Flushed.Task.WaitAsync(ct);
            }
            // Without a checkpoint of ours the partition starts at the beginning: the store is the
            // truth about what was processed, whatever offsets the broker remembers.
            var stored = await LoadCheckpointAsync(partition, ct);
            var progress = stored?.On(_epoch) ?? PartitionProgress.Beginning(_epoch);
            if (stored is not null && stored.Epoch != _epoch)
                _log.LogWarning("Partition {Partition}: its checkpoint is from broker cluster {Old}, this is {New}; reading it from the beginning",
                    partition.Partition.Value, stored.Epoch, _epoch);
            _starts[partition] = progress;
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
        Source<ConsumeResult<byte[]?, byte[]?>, NotUsed> records,
        IActorRef devices,
        IActorRef topN,
        IMaterializer materializer)
    {
        var start = _starts.TryRemove(partition, out var progress) ? progress : PartitionProgress.Beginning(_epoch);
        var stopWaiting = new CancellationTokenSource();
        var context = new PartitionContext
        {
            TopicPartition = partition,
            ProgressKey = KeyOf(partition),
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
            DeadLetterTopic = _settings.DeadLetterTopic,
            TooLateTopic = _settings.TooLateTopic,
            Metrics = _metrics,
        };
        _running[partition] = context;
        _ = context.Flushed.Task.ContinueWith(_ =>
        {
            stopWaiting.Cancel();
            stopWaiting.Dispose();
        }, TaskScheduler.Default);
        var actor = _system.ActorOf(PartitionActor.Props(context, start), $"partition-{partition.Partition.Value}-{Guid.NewGuid():N}");
        records
            .Batch(_settings.ConsumerBatchSize, first => new List<ConsumeResult<byte[]?, byte[]?>>(_settings.ConsumerBatchSize) { first }, (batch, next) =>
            {
                batch.Add(next);
                return batch;
            })
            .Select(batch => (IReadOnlyList<ConsumeResult<byte[]?, byte[]?>>)batch)
            .RunWith(Sink.ActorRefWithAck<IReadOnlyList<ConsumeResult<byte[]?, byte[]?>>>(
                actor, StreamInit.Instance, StreamAck.Instance, StreamCompleted.Instance, e => new StreamFailed(e)), materializer);
    }

    private async Task FlushRevokedAsync(IReadOnlyList<TopicPartition> partitions, bool lost, CancellationToken ct)
    {
        var flushing = new List<Task>();
        foreach (var partition in partitions)
        {
            if (!_running.TryRemove(partition, out var context)) continue;
            context.Revoked.TrySetResult();
            flushing.Add(context.Flushed.Task);
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

    private string KeyOf(TopicPartition partition) => PartitionProgress.KeyOf(_settings.GroupId, partition.Topic, partition.Partition.Value);
}

/// <summary>Registry keys for the device shard region and the top-N singleton proxy.</summary>
public sealed class DeviceRegion;

public sealed class TopNProxy;
