using System.Diagnostics;

namespace Tessera.Tests;

/// <summary>
/// Issue 28: large tensors on transparent huge pages (NativeHeap sets libtorch's THP_MEM_ALLOC_ENABLE before its first
/// allocation). Checked in a fresh <c>tessera info</c> process, because libtorch reads the setting once per process —
/// and measured by the kernel's own count (AnonHugePages in /proc/self/smaps_rollup), not by the setting.
/// </summary>
public sealed class HugePagesTests(ITestOutputHelper log)
{
    private static Task<string> InfoAsync(params (string Name, string Value)[] env) => InfoRowAsync("huge pages for large tensors", env);

    private static async Task<string> InfoRowAsync(string row, params (string Name, string Value)[] env)
    {
        var psi = CliErrorPathTests.Child("info");
        foreach (var (k, v) in env) psi.Environment[k] = v;
        psi.Environment.Remove("THP_MEM_ALLOC_ENABLE");
        using var p = Process.Start(psi)!;
        string output = await p.StandardOutput.ReadToEndAsync() + await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.Equal(0, p.ExitCode);
        return output.Split('\n').Single(l => l.Contains(row, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Large_tensors_get_huge_pages_where_the_kernel_offers_them_and_the_opt_out_keeps_them_off()
    {
        string mode = File.Exists("/sys/kernel/mm/transparent_hugepage/enabled") ? File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled") : "[never]";
        string line = await InfoAsync();
        log.WriteLine($"kernel: {mode.Trim()}; {line.Trim()}");
        Assert.Contains(mode.Contains("[never]", StringComparison.Ordinal) ? "off" : " on ", line);
        if (mode.Contains("[madvise]", StringComparison.Ordinal))
        {
            // With the kernel in madvise mode only libtorch's madvise (the setting) gives huge pages: the opt-out has none.
            string optedOut = await InfoAsync(("TESSERA_MALLOC", "default"));
            log.WriteLine($"TESSERA_MALLOC=default: {optedOut.Trim()}");
            Assert.Contains("off", optedOut);
        }
    }

    // Issue 28, session 5: with glibc's mmap path off, a freed 256 MiB tensor's memory serves the next one; the kernel's
    // own count of the process's minor page faults while the third one is filled tells (NativeHeap.FreedMemoryReused:
    // under 32, against at least 128 for a fresh mapping). `tessera info` runs its commands on the process's first
    // thread, whose glibc arena is the heap the settings govern.
    [Fact]
    public async Task Freed_large_tensors_are_reused_by_default_and_mapped_afresh_with_the_opt_out()
    {
        string line = await InfoRowAsync("freed large tensors' memory");
        log.WriteLine(line.Trim());
        Assert.Contains(" reused ", line);
        string optedOut = await InfoRowAsync("freed large tensors' memory", ("TESSERA_MALLOC", "default"));
        log.WriteLine($"TESSERA_MALLOC=default: {optedOut.Trim()}");
        Assert.Contains("mapped afresh", optedOut);
    }
}
