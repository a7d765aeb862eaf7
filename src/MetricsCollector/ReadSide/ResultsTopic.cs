using System.Buffers;
using System.Text;
using System.Text.Json;
using Akka.Actor;
using Akka.Event;
using Confluent.Kafka;
using MetricsCollector.Api;
using MetricsCollector.Configuration;
using MetricsCollector.Core.Time;
using MetricsCollector.Core.Windows;
using MetricsCollector.Kafka;

namespace MetricsCollector.ReadSide;

/// <summary>
/// Produces every row the store commits to the results topic: key <c>deviceId|windowEnd</c> (the window end
/// as the API writes it), value the row's JSON exactly as the API serves it, final only once
/// <see cref="RowFinality"/> allows. The result writer hands over each batch's rows after their commit and
/// never waits: rows queue here within a bound, one batch at a time goes to an idempotent producer (so a
/// key's revisions reach the topic in order, and librdkafka's retries neither lose nor duplicate them).
/// </summary>
/// <remarks>
/// What is owed survives a crash: with a results topic on, the store notes every window an upsert changes
/// in its results outbox, in the same transaction (<see cref="SqlResultStore.KeepsResultsOutbox"/>), and
/// only a delivered row takes it off (<see cref="IResultStore.ResultsProducedAsync"/>). Whatever this actor
/// could not deliver, did not queue (over its bound) or never saw (its node died between commit and
/// produce) stays owed, and every node, while it has nothing queued, sweeps the outbox and produces what it
/// finds: rows not final that are owed for longer than <see cref="CollectorSettings.ResultsOwedGrace"/> (which leaves the rows the writing
/// node is producing right now to it), and final rows once the API serves them final. A row the store holds
/// final before the API does (another partition's watermark is not stored past its close yet) goes out as not
/// final and stays owed; a sweep produces it again, final, once it is. So the topic may hold a revision twice, but a consumer that keeps the highest
/// (revision, final) per key ends with exactly the stored rows.
/// </remarks>
public sealed class ResultsTopicActor : ReceiveActor, IWithTimers
{
    private readonly IResultStore _store;
    private readonly RowFinality _finality;
    private readonly CollectorSettings _settings;
    private readonly string _topic;
    private readonly IProducer<byte[], byte[]> _producer;
    private readonly Task _schemaEnsured;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Queue<WindowResult> _queue = new();
    // Keys queued while a sweep reads the store: the sweep's older reading of them must not follow them out.
    private readonly HashSet<(string, long)> _queuedDuringSweep = new();
    private bool _producing;
    private bool _sweeping;
    private bool _sweepAgain = true;
    private bool _overBound;
    private int _failures;
    private int _sweepFailures;

    /// <param name="schemaEnsured">Completes once the store's tables exist: sweeps read the results outbox, so none starts before.</param>
    public ResultsTopicActor(IResultStore store, RowFinality finality, KafkaClients clients, string topic, CollectorSettings settings, Task schemaEnsured)
    {
        _store = store;
        _finality = finality;
        _settings = settings;
        _topic = topic;
        _producer = new ProducerBuilder<byte[], byte[]>(ProducerConfigOf(clients)).Build();
        _schemaEnsured = schemaEnsured;

        Receive<RowsPublished>(published => Enqueue(published.Rows));
        Receive<Produced>(OnProduced);
        Receive<SchemaEnsured>(_ => StartSweeping());
        Receive<Sweep>(_ => StartSweep());
        Receive<Swept>(OnSwept);
        Receive<SweepFailed>(failed =>
        {
            _sweeping = false;
            // Once per outage: the store's own health shows in /health/ready; sweeps go on every interval.
            if (_sweepFailures++ == 0) _log.Warning("Could not read the rows owed to the results topic {0}: {1}", _topic, failed.Cause.Message);
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IResultStore store, RowFinality finality, KafkaClients clients, string topic, CollectorSettings settings, Task schemaEnsured) =>
        Akka.Actor.Props.Create(() => new ResultsTopicActor(store, finality, clients, topic, settings, schemaEnsured));

    /// <summary>Idempotent with acks=all, so retries neither lose, duplicate nor reorder a key's revisions.</summary>
    public static ProducerConfig ProducerConfigOf(KafkaClients clients)
    {
        ArgumentNullException.ThrowIfNull(clients);
        var config = clients.Producer();
        config.EnableIdempotence = true;
        config.Acks = Acks.All;
        config.LingerMs ??= 5;
        // Rows of one batch are alike JSON: compressed they take a fraction of the broker's space and bandwidth.
        config.CompressionType ??= CompressionType.Lz4;
        return config;
    }

    /// <summary>The record key of a row: device id, '|', window end as ISO-8601 (device ids may hold '|'; the time never does).</summary>
    public static string KeyOf(WindowResult row) => $"{row.DeviceId}|{WindowResultJson.Time(row.WindowEnd)}";

    protected override void PreStart() => _schemaEnsured.PipeTo(Self, success: () => SchemaEnsured.Instance);

    private void StartSweeping()
    {
        // The first sweep at once: rows a crashed node owed wait no longer than the grace.
        Self.Tell(Sweep.Instance);
        Timers.StartPeriodicTimer("sweep", Sweep.Instance, _settings.ResultsSweepInterval);
    }

    protected override void PostStop()
    {
        // What is not delivered in time stays owed in the store.
        _producer.Flush(TimeSpan.FromSeconds(5));
        _producer.Dispose();
    }

    private void Enqueue(IReadOnlyList<WindowResult> rows)
    {
        if (_queue.Count + rows.Count > _settings.WriteBacklogRows)
        {
            // Still owed in the store: a sweep produces them (their latest revision) once the queue has drained.
            if (!_overBound) _log.Warning("The results topic {0} is behind by over {1} rows; the rest follow from the store", _topic, _settings.WriteBacklogRows);
            _overBound = true;
            _sweepAgain = true;
            return;
        }

        foreach (var row in rows)
        {
            _queue.Enqueue(row);
            if (_sweeping) _queuedDuringSweep.Add((row.DeviceId, row.WindowEnd));
        }

        Pump();
    }

    private void Pump()
    {
        if (_producing || _queue.Count == 0) return;
        var batch = new List<WindowResult>(Math.Min(_queue.Count, _settings.ResultWriter.BatchRows));
        while (batch.Count < _settings.ResultWriter.BatchRows && _queue.TryDequeue(out var row)) batch.Add(row);
        _producing = true;
        ProduceAsync(batch).PipeTo(Self, failure: e => new Produced(0, batch.Count, e));
    }

    private async Task<Produced> ProduceAsync(List<WindowResult> batch)
    {
        var served = await _finality.ApplyAsync(batch);
        using var json = new RowJson();
        var deliveries = served.Select(row => _producer.ProduceAsync(_topic, new Message<byte[], byte[]>
        {
            Key = Encoding.UTF8.GetBytes(KeyOf(row)),
            Value = json.Encode(row),
        })).ToList();
        var produced = new List<WindowResult>(served.Count);
        Exception? failure = null;
        for (var i = 0; i < deliveries.Count; i++)
        {
            try
            {
                await deliveries[i];
                produced.Add(served[i]);
            }
            catch (ProduceException<byte[], byte[]> e)
            {
                failure ??= e;
            }
        }

        await _store.ResultsProducedAsync(produced);
        return new Produced(produced.Count, served.Count - produced.Count, failure);
    }

    private void OnProduced(Produced produced)
    {
        _producing = false;
        if (produced.Failed > 0)
        {
            _failures++;
            _sweepAgain = true;
            _log.Warning("{0} rows could not be produced to the results topic {1} ({2} batches in a row); they stay owed: {3}",
                produced.Failed, _topic, _failures, produced.Cause?.Message);
        }
        else if (_failures > 0)
        {
            _log.Info("The results topic {0} takes rows again after {1} failed batches", _topic, _failures);
            _failures = 0;
        }

        Pump();
    }

    private void StartSweep()
    {
        if (_producing || _sweeping || _queue.Count > 0) return;
        _sweeping = true;
        _sweepAgain = false;
        _overBound = false;
        _queuedDuringSweep.Clear();
        SweepAsync().PipeTo(Self, failure: e => new SweepFailed(e));
    }

    private async Task<Swept> SweepAsync()
    {
        var through = await _finality.StoredThroughAsync();
        // Closed (final as served) once every partition has stored its watermark past end + allowed lateness.
        var closedEnd = through == Watermark.Start ? long.MinValue : through - _settings.Windows.AllowedLateness;
        var before = DateTimeOffset.UtcNow.Add(-_settings.ResultsOwedGrace).ToUnixTimeMilliseconds();
        return new Swept(await _store.OwedResultsAsync(before, closedEnd, _settings.ResultWriter.BatchRows));
    }

    private void OnSwept(Swept swept)
    {
        _sweeping = false;
        if (_sweepFailures > 0) _log.Info("The rows owed to the results topic {0} can be read again after {1} failed sweeps", _topic, _sweepFailures);
        _sweepFailures = 0;
        var owed = swept.Rows.Where(r => !_queuedDuringSweep.Contains((r.DeviceId, r.WindowEnd))).ToList();
        _queuedDuringSweep.Clear();
        if (owed.Count > 0) _log.Info("Producing {0} rows owed to the results topic {1}", owed.Count, _topic);
        // A full page: there may be more, read as soon as these are out.
        if (swept.Rows.Count == _settings.ResultWriter.BatchRows) _sweepAgain = true;
        foreach (var row in owed) _queue.Enqueue(row);
        Pump();
        if (_sweepAgain) Self.Tell(Sweep.Instance);
    }

    /// <summary>The record value of a row: its JSON exactly as the API writes it.</summary>
    public static byte[] ValueOf(WindowResult row)
    {
        using var json = new RowJson();
        return json.Encode(row);
    }

    /// <summary>
    /// One buffer and writer for a batch's rows: a row's JSON (about 700 bytes) outgrew a buffer per row
    /// once or twice, and with the writer that was four times the row's size in garbage.
    /// </summary>
    private sealed class RowJson : IDisposable
    {
        private readonly ArrayBufferWriter<byte> _buffer = new(1024);
        private readonly Utf8JsonWriter _writer;

        public RowJson() => _writer = new Utf8JsonWriter(_buffer);

        public byte[] Encode(WindowResult row)
        {
            _buffer.ResetWrittenCount();
            _writer.Reset();
            WindowResultJson.WriteRow(_writer, row);
            _writer.Flush();
            return _buffer.WrittenSpan.ToArray();
        }

        public void Dispose() => _writer.Dispose();
    }

    private sealed class SchemaEnsured
    {
        public static readonly SchemaEnsured Instance = new();
    }

    private sealed class Sweep
    {
        public static readonly Sweep Instance = new();
    }

    private sealed record Swept(IReadOnlyList<WindowResult> Rows);

    private sealed record SweepFailed(Exception Cause);

    private sealed record Produced(int Delivered, int Failed, Exception? Cause);
}
