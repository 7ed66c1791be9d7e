using System.Runtime.InteropServices;

namespace Tessera.Runtime;

/// <summary>
/// Runs a native-code loop body on libtorch's own OpenMP team (libgomp's <c>GOMP_parallel</c>, the entry point
/// <c>#pragma omp parallel</c> compiles to), so that work done outside libtorch between two of its operators uses the
/// threads libtorch has just left spinning rather than new threads competing with them for the cores.
/// </summary>
/// <remarks>
/// Found through libtorch's own dependency tree (the libgomp it was linked against), never loaded separately. Where
/// that is not found (another platform's OpenMP runtime) <see cref="Available"/> is false and callers keep their
/// libtorch path. The body is an unmanaged function pointer: it must not throw and must not allocate managed memory.
/// </remarks>
internal static unsafe class OpenMpTeam
{
    private static readonly delegate* unmanaged<delegate* unmanaged<IntPtr, void>, IntPtr, uint, uint, void> Parallel;
    private static readonly delegate* unmanaged<int> ThreadNum;
    private static readonly delegate* unmanaged<int> NumThreads;

    static OpenMpTeam()
    {
        if (!OperatingSystem.IsLinux()) return;
        _ = TorchSharp.torch.get_num_threads(); // loads libtorch
        if (!NativeLibrary.TryLoad("libtorch_cpu.so", typeof(TorchSharp.torch).Assembly, null, out var torchCpu)
            && !NativeLibrary.TryLoad("libtorch_cpu.so", out torchCpu)) return;
        // dlsym on libtorch's handle searches its dependencies breadth first: the libgomp libtorch uses.
        if (NativeLibrary.TryGetExport(torchCpu, "GOMP_parallel", out var parallel)
            && NativeLibrary.TryGetExport(torchCpu, "omp_get_thread_num", out var threadNum)
            && NativeLibrary.TryGetExport(torchCpu, "omp_get_num_threads", out var numThreads))
        {
            Parallel = (delegate* unmanaged<delegate* unmanaged<IntPtr, void>, IntPtr, uint, uint, void>)parallel;
            ThreadNum = (delegate* unmanaged<int>)threadNum;
            NumThreads = (delegate* unmanaged<int>)numThreads;
        }
    }

    /// <summary>Whether libtorch's OpenMP runtime was found.</summary>
    public static bool Available => Parallel != null;

    /// <summary>
    /// Calls <paramref name="body"/>(<paramref name="state"/>) on every thread of a team of <paramref name="threads"/>
    /// (the calling thread is thread 0) and returns when all have finished.
    /// </summary>
    public static void Run(delegate* unmanaged<IntPtr, void> body, IntPtr state, int threads)
    {
        if (!Available) throw new InvalidOperationException("libtorch's OpenMP runtime was not found");
        Parallel(body, state, (uint)Math.Max(threads, 1), 0);
    }

    /// <summary>
    /// The calling team thread's contiguous share [Start, End) of <paramref name="count"/> items, in blocks of ⌈count /
    /// team size⌉ by thread number (the last may be shorter or empty).
    /// </summary>
    public static (int Start, int End) ShareOf(int count)
    {
        int team = TeamSize, per = (count + team - 1) / team, start = Math.Min(count, ThreadNumber * per);
        return (start, Math.Min(count, start + per));
    }

    /// <summary>This thread's number in the running team (0 outside a team).</summary>
    public static int ThreadNumber => ThreadNum();

    /// <summary>The number of threads in the running team (1 outside a team).</summary>
    public static int TeamSize => NumThreads();
}
