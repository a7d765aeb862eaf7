using Akka.Actor;
using Akka.Configuration;

namespace MetricsCollector.Hosting;

/// <summary>
/// The threads of the data path: partition actors and devices run on a pool of their own, one thread
/// per core (hocon/akka.conf). At a slide boundary every device of a node fires at once; on .NET's
/// thread pool that queued tens of thousands of actor runs in front of the API's requests, which then
/// waited seconds for a thread. The API, the result writer (its SQLite writes hold their thread), the
/// top-N singleton and Akka's cluster internals stay on the thread pool, and the operating system
/// shares the cores between the two.
/// </summary>
public static class PipelineDispatcher
{
    public const string Path = "akka.actor.pipeline-dispatcher";

    /// <summary>
    /// Builds the dispatcher at start. Akka builds a dispatcher when the first actor asks for it: a bad
    /// value in the <c>akka { }</c> section would otherwise let the node start and then fail every
    /// partition it is given, consuming nothing.
    /// </summary>
    /// <exception cref="ConfigurationException">The dispatcher's configuration is refused.</exception>
    public static void Check(ActorSystem system)
    {
        ArgumentNullException.ThrowIfNull(system);
        try
        {
            system.Dispatchers.Lookup(Path);
        }
        catch (Exception e) when (e is not ConfigurationException)
        {
            throw new ConfigurationException($"{Path}: {e.Message}", e);
        }
    }
}
