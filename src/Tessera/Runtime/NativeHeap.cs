namespace Tessera.Runtime;

/// <summary>
/// glibc heap settings for libtorch's CPU tensors. By default glibc adapts its mmap threshold to the largest freed
/// block and returns the top of the heap to the system whenever more than twice that lies free there. TorchSharp frees
/// tensors in bursts, when a dispose scope ends (PyTorch frees each as soon as it is unreferenced), so the heap top
/// is trimmed and regrown — page faults — over and over: DeepLabV3 inference on 32 images of 64 × 64 took 110–120 ms
/// in its ResNet-18 backbone against PyTorch's 76 ms. With an mmap threshold of 32 MiB (glibc's maximum) and a trim
/// threshold of 64 MiB the backbone takes 62–80 ms (bench/README.md). Linux with glibc only; left alone when
/// MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ is set, or when TESSERA_MALLOC=default.
/// <para>
/// Tensors above glibc's largest mmap threshold (32 MiB: a 256-channel 256² map is 64 MiB) are mapped afresh at every
/// allocation and first touched page by page; in a VM each 4 KiB fault is costly, so an element-wise operation on such
/// a tensor took 200–260 ms against 17–22 ms when the pages are 2 MiB (issue 28, MobileSAM's first stage; bench/README.md).
/// libtorch's CPU allocator asks the kernel for transparent huge pages for tensors of 2 MiB or more when the environment
/// variable THP_MEM_ALLOC_ENABLE is 1 (c10's <c>alloc_cpu</c>, read once, at libtorch's first allocation), so
/// <see cref="Configure"/> sets it in the process environment unless it is set already — which only takes effect when
/// Configure runs before the process's first tensor (<see cref="HugePagesActive"/> tells).
/// </para>
/// </summary>
public static partial class NativeHeap
{
    private const int M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3;

    /// <summary>The mmap threshold set (bytes).</summary>
    public const int MmapThreshold = 32 << 20;

    /// <summary>The trim threshold set (bytes).</summary>
    public const int TrimThreshold = 64 << 20;

    [LibraryImport("libc.so.6", EntryPoint = "mallopt")]
    private static partial int Mallopt(int param, int value);

    // The native environment: .NET's Environment.SetEnvironmentVariable does not reach getenv in native code on Unix.
    [LibraryImport("libc.so.6", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Setenv(string name, string value, int overwrite);

    /// <summary>The environment variable libtorch's CPU allocator reads for transparent huge pages.</summary>
    public const string HugePagesVariable = "THP_MEM_ALLOC_ENABLE";

    /// <summary>Whether <see cref="Configure"/> changed the settings in this process.</summary>
    public static bool Configured { get; private set; }

    /// <summary>Applies the settings once; returns whether they are in effect (false off glibc or when opted out).</summary>
    public static bool Configure()
    {
        if (Configured) return true;
        if (!OperatingSystem.IsLinux()
            || Environment.GetEnvironmentVariable("TESSERA_MALLOC") == "default"
            || Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") is not null
            || Environment.GetEnvironmentVariable("MALLOC_TRIM_THRESHOLD_") is not null)
            return false;
        try
        {
            // mallopt returns 1 on success, 0 when glibc refuses the value.
            Configured = Mallopt(M_MMAP_THRESHOLD, MmapThreshold) == 1 && Mallopt(M_TRIM_THRESHOLD, TrimThreshold) == 1;
            if (Environment.GetEnvironmentVariable(HugePagesVariable) is null) Setenv(HugePagesVariable, "1", overwrite: 0);
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            Configured = false; // not glibc (musl has no mallopt)
        }
        return Configured;
    }

    /// <summary>
    /// Whether a large tensor allocated now is backed by transparent huge pages: a 16 MiB tensor is filled and the
    /// process's AnonHugePages (/proc/self/smaps_rollup) must grow by at least 2 MiB. False off Linux, when the kernel's
    /// transparent huge pages are off, or when libtorch's allocator read its setting before <see cref="Configure"/> set it.
    /// </summary>
    public static bool HugePagesActive()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/proc/self/smaps_rollup")) return false;
        long before = AnonHugePagesKiB();
        using var probe = torch.ones(4 << 20, dtype: torch.ScalarType.Float32);
        return AnonHugePagesKiB() - before >= 2048;
    }

    private static long AnonHugePagesKiB()
    {
        foreach (var line in File.ReadLines("/proc/self/smaps_rollup"))
            if (line.StartsWith("AnonHugePages:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
        return 0;
    }
}
