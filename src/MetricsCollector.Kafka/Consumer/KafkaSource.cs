using Akka;
using Akka.Streams;
using Akka.Streams.Dsl;
using Akka.Streams.Stage;
using Confluent.Kafka;

namespace MetricsCollector.Kafka.Consumer;

public static class KafkaSource
{
    /// <summary>
    /// One Kafka consumer in a group, as a source of per-partition substreams: one element per
    /// partition assigned to this member, whose substream of record batches (in partition order, at
    /// most <see cref="KafkaConsumerSettings.BatchSize"/> records each) completes when the partition
    /// is revoked, lost, or the consumer stops. Offsets are committed only through
    /// <see cref="IConsumerControl.Commit"/>. A record's value is null for a tombstone.
    /// </summary>
    public static Source<(TopicPartition Partition, Source<RecordBatch, NotUsed> Records), IConsumerControl>
        CommittablePartitioned(KafkaConsumerSettings settings) =>
        Source.FromGraph(new PartitionedSourceStage(settings));
}

internal sealed class PartitionedSourceStage(KafkaConsumerSettings settings)
    : GraphStageWithMaterializedValue<SourceShape<(TopicPartition Partition, Source<RecordBatch, NotUsed> Records)>, IConsumerControl>
{
    private readonly Outlet<(TopicPartition Partition, Source<RecordBatch, NotUsed> Records)> _out = new("kafka-partitions.out");

    public override SourceShape<(TopicPartition Partition, Source<RecordBatch, NotUsed> Records)> Shape => new(_out);

    protected override Attributes InitialAttributes { get; } = Attributes.CreateName("kafka-committable-partitioned-source");

    public override ILogicAndMaterializedValue<IConsumerControl> CreateLogicAndMaterializedValue(Attributes inheritedAttributes)
    {
        var loop = new ConsumerLoop(settings);
        return new LogicAndMaterializedValue<IConsumerControl>(new Logic(this, loop), loop);
    }

    private sealed class Logic : OutGraphStageLogic, ConsumerLoop.ISink
    {
        private readonly PartitionedSourceStage _stage;
        private readonly ConsumerLoop _loop;
        private readonly Queue<(TopicPartition, Source<RecordBatch, NotUsed>)> _opened = new();
        private Action<(TopicPartition, Source<RecordBatch, NotUsed>)>? _onOpened;
        private Action<Exception?>? _onFinished;

        public Logic(PartitionedSourceStage stage, ConsumerLoop loop) : base(stage.Shape)
        {
            _stage = stage;
            _loop = loop;
            SetHandler(stage._out, this);
        }

        public override void PreStart()
        {
            _onOpened = GetAsyncCallback<(TopicPartition, Source<RecordBatch, NotUsed>)>(Opened);
            _onFinished = GetAsyncCallback<Exception?>(Finished);
            _loop.Start(this, Log);
        }

        public override void OnPull()
        {
            if (_opened.TryDequeue(out var next))
            {
                Push(_stage._out, next);
            }
        }

        public override void OnDownstreamFinish(Exception cause)
        {
            // Nobody takes new partitions any more: leave the group so others can.
            _ = _loop.StopAsync();
            base.OnDownstreamFinish(cause);
        }

        public override void PostStop() => _ = _loop.StopAsync();

        void ConsumerLoop.ISink.PartitionOpened(TopicPartition partition, Source<RecordBatch, NotUsed> records) =>
            _onOpened!((partition, records));

        void ConsumerLoop.ISink.Finished(Exception? failure) => _onFinished!(failure);

        private void Opened((TopicPartition, Source<RecordBatch, NotUsed>) partition)
        {
            _opened.Enqueue(partition);
            if (IsAvailable(_stage._out))
            {
                Push(_stage._out, _opened.Dequeue());
            }
        }

        private void Finished(Exception? failure)
        {
            if (failure is null)
            {
                CompleteStage();
            }
            else
            {
                FailStage(failure);
            }
        }
    }
}
