namespace MetricsCollector.Tests.Support;

/// <summary>The repository the tests run from, for the files they use as they are (scripts, deploy configuration).</summary>
public static class Repository
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MetricsCollector.sln"))) return dir.FullName;
        throw new InvalidOperationException("MetricsCollector.sln not found above " + AppContext.BaseDirectory);
    }
}
