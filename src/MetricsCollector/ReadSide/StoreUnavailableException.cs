namespace MetricsCollector.ReadSide;

/// <summary>
/// The database could not be reached or is shutting down: a condition that passes (the API answers 503,
/// the projection retries), unlike a fault in a query, which stays the exception the driver threw.
/// </summary>
public sealed class StoreUnavailableException : Exception
{
    public StoreUnavailableException()
    {
    }

    public StoreUnavailableException(string message)
        : base(message)
    {
    }

    public StoreUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
