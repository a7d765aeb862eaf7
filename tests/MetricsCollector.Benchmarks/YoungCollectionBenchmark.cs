using System.CommandLine;
using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using MetricsCollector.Devices;

namespace MetricsCollector.Benchmarks;

/// <summary>
/// `young-gc [actors] [seconds] [--rate N] [--writes none|messages|kept] [--allocate MB/s]`: what a young
/// collection costs with many resident actors, by what their message path writes into old objects. At 100,000
/// devices the node's young collections pause it for 0.2–1.1 s although they promote little: their cost is in the
/// old objects that refer to young ones. This separates the actor path's own share from the node's: resident
/// actors (the devices' mailbox, each holding ~6 KB of old state, the node's heap per device), a steady allocation
/// that sets the collections' pace, and either no messages, a fresh message to each actor in turn (what Akka
/// stores of it: the mailbox slot, the cell's current message), or that and the actor keeping it in a field of its
/// own (as a device keeps its newest state).
/// </summary>
internal static class YoungCollectionBenchmark
{
    public static Command Command()
    {
        var actors = Arguments.Positive("actors", 100_000, "Resident actors.");
        var seconds = Arguments.Positive("seconds", 60, "Seconds measured, after a 15 s warm-up.");
        var rate = Arguments.PositiveOption("--rate", 10_000, "Messages a second over all actors (each actor gets one every actors/rate seconds).");
        var allocate = Arguments.PositiveOption("--allocate", 50, "Megabytes a second of short-lived garbage, the node's pace at 100,000 devices.");
        var writes = new Option<string>("--writes")
        {
            Description = "none: no messages; messages: a new message to each actor in turn; kept: the actor keeps it in a field.",
            DefaultValueFactory = _ => "messages",
        };
        writes.AcceptOnlyFromAmong("none", "messages", "kept");
        var command = new Command("young-gc", "Young-collection pauses with resident actors, by what their messages write into old objects.") { actors, seconds, rate, allocate, writes };
        command.SetAction(parse => Run(parse.GetValue(actors), parse.GetValue(seconds), parse.GetValue(rate), parse.GetValue(allocate), parse.GetValue(writes)!));
        return command;
    }

    private static int Run(int actorCount, int seconds, int rate, int allocateMb, string writes)
    {
        var config = ConfigurationFactory.ParseString($"""
            akka.loglevel = WARNING
            {DeviceMailbox.ConfigPath}.mailbox-type = "{typeof(DeviceMailbox).AssemblyQualifiedName}"
            """);
        using var system = ActorSystem.Create("young-gc", config);
        var keep = writes == "kept";
        var props = Props.Create(() => new Resident(keep)).WithMailbox(DeviceMailbox.ConfigPath);
        var actors = new IActorRef[actorCount];
        for (var i = 0; i < actorCount; i++) actors[i] = system.ActorOf(props);
        // Everything set up so far is old from here: the measured collections find it in the oldest generation.
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        var heap = GC.GetTotalMemory(forceFullCollection: false);
        Console.WriteLine($"{actorCount:N0} actors, {heap / 1e6:N0} MB after setup; {(writes == "none" ? 0 : rate):N0} messages/s ({writes}), {allocateMb} MB/s of garbage; server GC {System.Runtime.GCSettings.IsServerGC}, {Environment.ProcessorCount} cores");

        using var stop = new CancellationTokenSource();
        var sender = new Thread(() => Drive(actors, writes == "none" ? 0 : rate, allocateMb, stop.Token)) { IsBackground = true };
        sender.Start();
        Thread.Sleep(TimeSpan.FromSeconds(15));

        var pauses = new List<(int Generation, double PauseMs, long PromotedBytes)>();
        var seen = LatestIndex();
        var clock = Stopwatch.StartNew();
        var pausedBefore = GC.GetTotalPauseDuration();
        while (clock.Elapsed < TimeSpan.FromSeconds(seconds))
        {
            // Each kind's latest collection, polled often enough that two of one kind never fall between polls.
            Thread.Sleep(5);
            foreach (var kind in Kinds)
            {
                var info = GC.GetGCMemoryInfo(kind);
                if (info.Index > seen) pauses.Add((info.Generation, (info.PauseDurations[0] + info.PauseDurations[1]).TotalMilliseconds, info.PromotedBytes));
            }
            seen = LatestIndex();
        }
        var paused = GC.GetTotalPauseDuration() - pausedBefore;
        stop.Cancel();
        sender.Join();

        var young = pauses.Where(p => p.Generation < 2).ToList();
        Console.WriteLine();
        Console.WriteLine("| writes | young collections | pause mean | pause max | promoted mean | gen2 collections | paused, share of wall |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        Console.WriteLine(
            $"| {writes} | {young.Count} | {(young.Count == 0 ? 0 : young.Average(p => p.PauseMs)):N1} ms | {(young.Count == 0 ? 0 : young.Max(p => p.PauseMs)):N1} ms | " +
            $"{(young.Count == 0 ? 0 : young.Average(p => p.PromotedBytes) / 1e6):N1} MB | {pauses.Count - young.Count} | {paused.TotalSeconds:N2} s, {paused.TotalSeconds / clock.Elapsed.TotalSeconds:P1} |");
        return 0;
    }

    private static readonly GCKind[] Kinds = [GCKind.Ephemeral, GCKind.FullBlocking, GCKind.Background];

    private static long LatestIndex() => Kinds.Max(kind => GC.GetGCMemoryInfo(kind).Index);

    /// <summary>Sends the messages at their pace (each actor in turn) and allocates the garbage beside them.</summary>
    private static void Drive(IActorRef[] actors, int rate, int allocateMb, CancellationToken stop)
    {
        const int TicksPerSecond = 100;
        var garbagePerTick = allocateMb * 1_000_000L / TicksPerSecond;
        var next = 0;
        var clock = Stopwatch.StartNew();
        long tick = 0, sent = 0;
        object? sink = null;
        while (!stop.IsCancellationRequested)
        {
            // As many as the rate owes by the end of this tick, so rates below the tick rate send too.
            for (var owed = (tick + 1) * rate / TicksPerSecond; sent < owed; sent++)
            {
                actors[next].Tell(new Reading(next, tick), ActorRefs.NoSender);
                next = (next + 1) % actors.Length;
            }
            // Short-lived objects of a message's size, so the collections come at the node's pace.
            for (long made = 0; made < garbagePerTick; made += 128) sink = new byte[104];
            GC.KeepAlive(sink);
            tick++;
            var due = TimeSpan.FromSeconds((double)tick / TicksPerSecond) - clock.Elapsed;
            if (due > TimeSpan.Zero) Thread.Sleep(due);
        }
    }

    private sealed record Reading(int Actor, long Tick);

    /// <summary>A resident actor with about the node's old state a device (6 KB, in a few arrays and objects).</summary>
    private sealed class Resident : ReceiveActor
    {
        private readonly double[][] _state = [new double[180], new double[180], new double[180], new double[180]];
        private readonly object[] _parts = [new object(), new object(), new object(), new object(), new object(), new object()];
        private Reading? _newest;

        public Resident(bool keep)
        {
            Receive<Reading>(reading =>
            {
                _state[reading.Actor & 3][reading.Tick % 180] += 1;
                if (keep) _newest = reading;
            });
        }

        protected override void PostStop() => GC.KeepAlive((_parts, _newest));
    }
}
