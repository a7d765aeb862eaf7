using Akka.Actor;
using MetricsCollector.Configuration;
using MetricsCollector.Hosting;

namespace MetricsCollector.Tests.Hosting;

public sealed class PipelineDispatcherTests
{
    private sealed class WhereAmI : ReceiveActor
    {
        public WhereAmI() => Receive<string>(_ => Sender.Tell(Thread.CurrentThread.IsThreadPoolThread));
    }

    [Fact]
    public async Task The_data_path_runs_off_the_thread_pool_that_serves_the_api_while_other_actors_stay_on_it()
    {
        // The node's own Akka configuration, as NodeHost gets it (a local system: no provider set).
        using var system = ActorSystem.Create("dispatcher-test", AkkaConfiguration.For(CollectorSettings.Load(null, new Dictionary<string, string>())));
        try
        {
            var device = system.ActorOf(Props.Create<WhereAmI>().WithDispatcher(PipelineDispatcher.Path));
            var other = system.ActorOf(Props.Create<WhereAmI>());
            for (var i = 0; i < 20; i++)
            {
                Assert.False(await device.Ask<bool>("?", TimeSpan.FromSeconds(10)));
                Assert.True(await other.Ask<bool>("?", TimeSpan.FromSeconds(10)));
            }
        }
        finally
        {
            await system.Terminate();
        }
    }
}
