using Akka;
using Akka.Streams;
using Akka.Streams.Stage;
using Confluent.Kafka;

namespace MetricsCollector.Kafka.Consumer;

/// <summary>One partition's substream: emits what the consumer thread put into its buffer, in order, in batches.</summary>
internal sealed class PartitionSourceStage(PartitionBuffer buffer, Action<PartitionBuffer> requestResume, Action<PartitionBuffer> cancelled)
    : GraphStage<SourceShape<RecordBatch>>
{
    private readonly PartitionBuffer _buffer = buffer;
    private readonly Action<PartitionBuffer> _requestResume = requestResume;
    private readonly Action<PartitionBuffer> _cancelled = cancelled;
    private readonly Outlet<RecordBatch> _out = new($"partition-{buffer.Partition.Partition.Value}.out");

    public override SourceShape<RecordBatch> Shape => new(_out);

    protected override Attributes InitialAttributes { get; } =
        Attributes.CreateName($"kafka-partition-{buffer.Partition.Topic}-{buffer.Partition.Partition.Value}");

    protected override GraphStageLogic CreateLogic(Attributes inheritedAttributes) => new Logic(this);

    private sealed class Logic : OutGraphStageLogic
    {
        private readonly PartitionSourceStage _stage;

        public Logic(PartitionSourceStage stage) : base(stage.Shape)
        {
            _stage = stage;
            SetHandler(stage._out, this);
        }

        public override void PreStart()
        {
            var wakeup = GetAsyncCallback(OnWakeup);
            if (_stage._buffer.Attach(wakeup))
            {
                OnWakeup();
            }
        }

        public override void OnPull() => Deliver();

        public override void OnDownstreamFinish(Exception cause)
        {
            _stage._cancelled(_stage._buffer);
            base.OnDownstreamFinish(cause);
        }

        private void OnWakeup()
        {
            if (IsAvailable(_stage._out) || _stage._buffer.IsCompleted)
            {
                Deliver();
            }
        }

        private void Deliver()
        {
            switch (_stage._buffer.TryTake(out var batch, out var requestResume, out var failure))
            {
                case PartitionBuffer.Take.Batch:
                    Push(_stage._out, batch!);
                    if (requestResume)
                    {
                        _stage._requestResume(_stage._buffer);
                    }

                    break;
                case PartitionBuffer.Take.Completed when failure is null:
                    CompleteStage();
                    break;
                case PartitionBuffer.Take.Completed:
                    FailStage(failure);
                    break;
                case PartitionBuffer.Take.Empty:
                    break;
            }
        }
    }
}
