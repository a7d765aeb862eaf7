using System.Collections.Immutable;
using Akka.Actor;
using Akka.Persistence;
using Akka.Persistence.Journal;

namespace MetricsCollector.Persistence;

/// <summary>
/// The journal of a node whose persistent actors persist no events: Kafka is the event log, and devices
/// only snapshot. Recovery asks the journal for events after the snapshot and for the highest sequence
/// number; with a SQL journal that was a round trip per device start for an answer known in advance.
/// This one answers at once, without I/O. Unlike Akka's in-memory journal it refuses to persist: an
/// event written there would be gone at the next start, so an actor that tries fails loudly instead.
/// </summary>
public sealed class NoEventJournal : AsyncWriteJournal
{
    private static readonly NotSupportedException Refused =
        new("this node keeps no event journal: Kafka is the event log and persistent actors only save snapshots");

    public override Task ReplayMessagesAsync(IActorContext context, string persistenceId, long fromSequenceNr, long toSequenceNr, long max, Action<IPersistentRepresentation> recoveryCallback) =>
        Task.CompletedTask;

    public override Task<long> ReadHighestSequenceNrAsync(string persistenceId, long fromSequenceNr, CancellationToken cancellationToken = default) =>
        Task.FromResult(0L);

    protected override Task<IImmutableList<Exception?>> WriteMessagesAsync(IEnumerable<AtomicWrite> messages, CancellationToken cancellationToken = default) =>
        Task.FromException<IImmutableList<Exception?>>(Refused);

    protected override Task DeleteMessagesToAsync(string persistenceId, long toSequenceNr, CancellationToken cancellationToken = default) =>
        Task.CompletedTask;
}
