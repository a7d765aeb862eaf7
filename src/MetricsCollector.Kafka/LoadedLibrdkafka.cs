using System.Reflection;
using System.Runtime.InteropServices;
using Confluent.Kafka;

namespace MetricsCollector.Kafka;

/// <summary>
/// Binds our own P/Invoke declarations (<c>DllImport(Lib)</c>) to the very library file Confluent.Kafka
/// loaded: a second copy of librdkafka would be a second set of globals, the handles Confluent made
/// would mean nothing to it, and the bundled builds differ by platform (on Debian Confluent falls back
/// to centos8-librdkafka.so).
/// </summary>
internal static class LoadedLibrdkafka
{
    internal const string Lib = "librdkafka-confluent-loaded";

    private static readonly Lazy<bool> s_resolver = new(() =>
    {
        NativeLibrary.SetDllImportResolver(typeof(LoadedLibrdkafka).Assembly, Resolve);
        return true;
    });

    private static readonly Lazy<string?> s_path = new(() =>
    {
        try
        {
            return Path();
        }
        catch (Exception e) when (e is PlatformNotSupportedException or InvalidOperationException)
        {
            return null;
        }
    });

    /// <summary>Every class with <c>DllImport(Lib)</c> calls this first; the resolver can be set only once per assembly.</summary>
    internal static void EnsureResolver() => _ = s_resolver.Value;

    /// <summary>Whether <c>DllImport(Lib)</c> can bind here (it finds the file only on Linux).</summary>
    internal static bool CanBind => s_path.Value is not null;

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) =>
        name == Lib ? NativeLibrary.Load(s_path.Value ?? Path()) : IntPtr.Zero;

    /// <summary>
    /// Asks Confluent.Kafka to load its librdkafka, then reads which file the process mapped.
    /// Confluent does not expose the path it chose, and /proc/self/maps is the loader's own truth.
    /// </summary>
    private static string Path()
    {
        Library.Load();
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("The loaded librdkafka is found through /proc/self/maps (Linux only).");
        }

        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            var slash = line.IndexOf('/', StringComparison.Ordinal);
            if (slash >= 0 && line.Contains("librdkafka", StringComparison.Ordinal))
            {
                return line[slash..].Trim();
            }
        }

        throw new InvalidOperationException("Confluent.Kafka reported librdkafka loaded, but it is not mapped into this process.");
    }
}
