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
/// <para>
/// Even on huge pages a fresh mapping is zeroed by the kernel at first touch (a 75 MiB fill took 9.6–12 ms mapped
/// afresh, 1.0–1.2 ms in reused memory), and every tensor over 32 MiB was mapped afresh at each allocation: a SAM
/// ViT-B encoder block's qkv (38 MiB) and MLP (50 MiB) activations, Hiera's and TinyViT's 64–100 MiB first-stage maps.
/// ONNX Runtime keeps such buffers in its arena. Configure therefore also turns glibc's mmap path off (M_MMAP_MAX 0:
/// large blocks come from the heap and are reused once freed) and raises the trim threshold to
/// <see cref="TrimThreshold"/> (freed memory at the heap's top is kept up to that size, so the resident size stays at
/// the process's peak rather than falling back after each call). One limit stays: glibc gives threads other than the
/// process's first their own arenas, whose heaps hold blocks up to 64 MiB; a larger tensor allocated on such a thread
/// (a server's request threads) is still mapped afresh. An application that wants those reused too starts its process
/// with MALLOC_ARENA_MAX=1 (read by glibc at start-up only). Measured (bench/README.md, session 5, 2 threads): SAM ViT-B
/// encoder 5.18 → 4.33 s, Hiera-T 1.75 → 1.45 s, MobileSAM 0.61 → 0.56 s. <see cref="FreedMemoryReused"/> tells
/// whether it holds on the calling thread.
/// </para>
/// </summary>
public static partial class NativeHeap
{
    private const int M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3, M_MMAP_MAX = -4;

    /// <summary>The mmap threshold set (bytes).</summary>
    public const int MmapThreshold = 32 << 20;

    /// <summary>The trim threshold set (bytes): freed memory at the top of the heap is returned to the system beyond this.</summary>
    public const int TrimThreshold = 1 << 30;

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
            Configured = Mallopt(M_MMAP_THRESHOLD, MmapThreshold) == 1 && Mallopt(M_TRIM_THRESHOLD, TrimThreshold) == 1
                && Mallopt(M_MMAP_MAX, 0) == 1;
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

    /// <summary>
    /// Whether a large tensor's memory, once freed, is reused by the next one of its size rather than mapped afresh: a
    /// 256 MiB tensor is filled and freed twice, and filling a next one must cost the process fewer than 32 minor page
    /// faults in the best of three tries (a fresh mapping costs at least 128, one per 2 MiB huge page, or 65,536 on 4 KiB
    /// pages). Measured on the calling
    /// thread's glibc arena; false off Linux.
    /// </summary>
    public static bool FreedMemoryReused()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/proc/self/stat")) return false;
        const long Elements = 64L << 20;
        // Twice first: glibc carves a 2 MiB-aligned block (libtorch asks huge-page tensors for that alignment) out of the
        // heap's top only when the top holds the size plus the alignment, so the first reuse may still grow the heap.
        for (int i = 0; i < 2; i++)
            using (var first = torch.empty(Elements, dtype: torch.ScalarType.Float32)) first.fill_(1.0f);
        // The count is the whole process's: another thread faulting meanwhile (the JIT's background compilation, a GC)
        // can add a few dozen, so the best of three fills decides; a fresh mapping costs at least 128 in every one.
        for (int i = 0; i < 3; i++)
        {
            long before = MinorFaults();
            using (var next = torch.empty(Elements, dtype: torch.ScalarType.Float32)) next.fill_(2.0f);
            if (MinorFaults() - before < 32) return true;
        }
        return false;
    }

    // Field 10 of /proc/self/stat, counted after the command name (which may hold spaces) and its closing parenthesis.
    private static long MinorFaults()
    {
        string stat = File.ReadAllText("/proc/self/stat");
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[7], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static long AnonHugePagesKiB()
    {
        foreach (var line in File.ReadLines("/proc/self/smaps_rollup"))
            if (line.StartsWith("AnonHugePages:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
        return 0;
    }
}
