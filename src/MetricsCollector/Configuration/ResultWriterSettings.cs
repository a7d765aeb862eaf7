namespace MetricsCollector.Configuration;

/// <summary>How the result writer batches rows into the store and on to the top-N singleton (<c>metrics-collector.result-writer</c>).</summary>
/// <param name="BatchRows">Rows written in one transaction at most; a full batch is written at once.</param>
/// <param name="FlushDelay">How long a batch that is not full waits for more rows.</param>
/// <param name="PublishSlice">Rows per message to the top-N singleton, which remoting's frame size bounds.</param>
public sealed record ResultWriterSettings(int BatchRows, TimeSpan FlushDelay, int PublishSlice);
