namespace Tessera.Runtime;

/// <summary>
/// glibc heap settings for libtorch's CPU tensors. By default glibc adapts its mmap threshold to the largest freed
/// block and returns the top of the heap to the system whenever more than twice that lies free there. TorchSharp frees
/// tensors in bursts, when a dispose scope ends (PyTorch frees each as soon as it is unreferenced), so the heap top
/// is trimmed and regrown — page faults — over and over: DeepLabV3 inference on 32 images of 64 × 64 took 110–120 ms
/// in its ResNet-18 backbone against PyTorch's 76 ms. With an mmap threshold of 32 MiB (glibc's maximum) and a trim
/// threshold of 64 MiB the backbone takes 62–80 ms (bench/README.md). Linux with glibc only; left alone when
/// MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ is set, or when TESSERA_MALLOC=default.
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
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            Configured = false; // not glibc (musl has no mallopt)
        }
        return Configured;
    }
}
