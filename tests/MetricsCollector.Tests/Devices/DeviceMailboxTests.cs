using Akka.Actor;
using MetricsCollector.Devices;

namespace MetricsCollector.Tests.Devices;

public sealed class DeviceMailboxTests
{
    private static Envelope Message(int n) => new(n, ActorRefs.NoSender);

    private static List<int> Drain(DeviceMessageQueue queue)
    {
        var taken = new List<int>();
        while (queue.TryDequeue(out var envelope)) taken.Add((int)envelope.Message);
        return taken;
    }

    [Fact]
    public void Messages_come_out_in_the_order_they_went_in_across_growth_and_wrap_around()
    {
        var queue = new DeviceMessageQueue();
        var expected = new List<int>();
        var next = 0;
        // Interleaved so that the ring's head moves before it grows: growth must unwrap it.
        for (var round = 0; round < 50; round++)
        {
            for (var i = 0; i < 3 + round % 7; i++)
            {
                queue.Enqueue(ActorRefs.Nobody, Message(next));
                expected.Add(next++);
            }
            Assert.True(queue.TryDequeue(out var first));
            Assert.Equal(expected[0], (int)first.Message);
            expected.RemoveAt(0);
        }
        Assert.Equal(expected.Count, queue.Count);
        Assert.Equal(expected, Drain(queue));
        Assert.False(queue.HasMessages);
        Assert.False(queue.TryDequeue(out _));
    }

    [Fact]
    public void Messages_put_back_in_front_come_out_first_last_put_first_as_a_stash_expects()
    {
        var queue = new DeviceMessageQueue();
        queue.Enqueue(ActorRefs.Nobody, Message(10));
        queue.Enqueue(ActorRefs.Nobody, Message(11));
        // Akka's unstash puts messages back from the newest to the oldest.
        queue.EnqueueFirst(Message(2));
        queue.EnqueueFirst(Message(1));
        queue.EnqueueFirst(Message(0));
        queue.Enqueue(ActorRefs.Nobody, Message(12));

        Assert.Equal([0, 1, 2, 10, 11, 12], Drain(queue));
    }

    [Fact]
    public void A_queue_that_grew_for_a_burst_still_works_once_drained_and_refilled()
    {
        var queue = new DeviceMessageQueue();
        for (var i = 0; i < 1_000; i++) queue.Enqueue(ActorRefs.Nobody, Message(i));
        Assert.Equal(Enumerable.Range(0, 1_000), Drain(queue));

        queue.EnqueueFirst(Message(1));
        queue.Enqueue(ActorRefs.Nobody, Message(2));
        Assert.Equal([1, 2], Drain(queue));
    }

    [Fact]
    public void Concurrent_senders_lose_nothing_and_each_senders_messages_keep_their_order()
    {
        const int Senders = 4, PerSender = 20_000;
        var queue = new DeviceMessageQueue();
        var taken = new List<int>();
        using var done = new CountdownEvent(Senders);
        var threads = Enumerable.Range(0, Senders).Select(s => new Thread(() =>
        {
            for (var i = 0; i < PerSender; i++) queue.Enqueue(ActorRefs.Nobody, Message(s * PerSender + i));
            done.Signal();
        })).ToList();
        threads.ForEach(t => t.Start());

        while (!done.IsSet || queue.HasMessages)
        {
            if (queue.TryDequeue(out var envelope)) taken.Add((int)envelope.Message);
        }
        threads.ForEach(t => t.Join());

        Assert.Equal(Senders * PerSender, taken.Count);
        foreach (var sender in taken.GroupBy(n => n / PerSender))
        {
            Assert.Equal(Enumerable.Range(sender.Key * PerSender, PerSender), sender);
        }
    }

    [Fact]
    public void Clean_up_hands_what_is_left_to_dead_letters_in_order()
    {
        var queue = new DeviceMessageQueue();
        for (var i = 0; i < 6; i++) queue.Enqueue(ActorRefs.Nobody, Message(i));
        var deadLetters = new DeviceMessageQueue();

        queue.CleanUp(ActorRefs.Nobody, deadLetters);

        Assert.False(queue.HasMessages);
        Assert.Equal(Enumerable.Range(0, 6), Drain(deadLetters));
    }
}
