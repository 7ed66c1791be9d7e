namespace Tessera.Training.Distributed;

/// <summary>
/// The dozen entry points of Open MPI's libmpi.so.40 that <see cref="MpiCommunicator"/> uses, bound at run time. In
/// Open MPI's ABI the handles MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, … are the addresses of exported globals
/// (<c>ompi_mpi_comm_world</c>, <c>ompi_mpi_float</c>, <c>ompi_mpi_op_sum</c>) and MPI_IN_PLACE is the address 1.
/// The library is opened RTLD_GLOBAL, as mpi4py does, so Open MPI's plug-ins find its symbols.
/// </summary>
internal sealed unsafe class MpiNative
{
    /// <summary>The library's file name (Debian/Ubuntu libopenmpi3, Open MPI 3.x–5.x).</summary>
    public const string DefaultLibrary = "libmpi.so.40";

    /// <summary>MPI_THREAD_SERIALIZED: any thread may call, one at a time.</summary>
    public const int ThreadSerialized = 2;

    /// <summary>MPI_IN_PLACE in Open MPI.</summary>
    public static readonly IntPtr InPlace = 1;

    public readonly IntPtr CommWorld, Float, Double, Int64, Byte, OpSum, OpMax;
    public readonly delegate* unmanaged<int*, int> Initialized, Finalized;
    public readonly delegate* unmanaged<IntPtr, IntPtr, int, int*, int> InitThread;
    public readonly delegate* unmanaged<int> Finalize;
    public readonly delegate* unmanaged<IntPtr, int*, int> CommRank, CommSize;
    public readonly delegate* unmanaged<IntPtr, IntPtr, int, IntPtr, IntPtr, IntPtr, int> Allreduce;
    public readonly delegate* unmanaged<IntPtr, int, IntPtr, int, IntPtr, int> Bcast;
    public readonly delegate* unmanaged<IntPtr, int> Barrier;
    public readonly delegate* unmanaged<IntPtr, int, IntPtr, IntPtr, int, IntPtr, IntPtr, int> Allgather;
    public readonly delegate* unmanaged<IntPtr, int, int> Abort;
    public readonly delegate* unmanaged<int, byte*, int*, int> ErrorString;

    [DllImport("libc.so.6", EntryPoint = "dlopen")]
    private static extern IntPtr DlOpen([MarshalAs(UnmanagedType.LPStr)] string file, int mode);

    [DllImport("libc.so.6", EntryPoint = "dlerror")]
    private static extern IntPtr DlError();

    private MpiNative(IntPtr lib, string path)
    {
        IntPtr Get(string name) => NativeLibrary.TryGetExport(lib, name, out var p) ? p
            : throw new TesseraUserException($"{path} does not export {name}: it is not Open MPI's libmpi (Tessera binds Open MPI's ABI; install openmpi-bin and libopenmpi3)");
        CommWorld = Get("ompi_mpi_comm_world");
        Float = Get("ompi_mpi_float");
        Double = Get("ompi_mpi_double");
        Int64 = Get("ompi_mpi_int64_t");
        Byte = Get("ompi_mpi_byte");
        OpSum = Get("ompi_mpi_op_sum");
        OpMax = Get("ompi_mpi_op_max");
        Initialized = (delegate* unmanaged<int*, int>)Get("MPI_Initialized");
        Finalized = (delegate* unmanaged<int*, int>)Get("MPI_Finalized");
        InitThread = (delegate* unmanaged<IntPtr, IntPtr, int, int*, int>)Get("MPI_Init_thread");
        Finalize = (delegate* unmanaged<int>)Get("MPI_Finalize");
        CommRank = (delegate* unmanaged<IntPtr, int*, int>)Get("MPI_Comm_rank");
        CommSize = (delegate* unmanaged<IntPtr, int*, int>)Get("MPI_Comm_size");
        Allreduce = (delegate* unmanaged<IntPtr, IntPtr, int, IntPtr, IntPtr, IntPtr, int>)Get("MPI_Allreduce");
        Bcast = (delegate* unmanaged<IntPtr, int, IntPtr, int, IntPtr, int>)Get("MPI_Bcast");
        Barrier = (delegate* unmanaged<IntPtr, int>)Get("MPI_Barrier");
        Allgather = (delegate* unmanaged<IntPtr, int, IntPtr, IntPtr, int, IntPtr, IntPtr, int>)Get("MPI_Allgather");
        Abort = (delegate* unmanaged<IntPtr, int, int>)Get("MPI_Abort");
        ErrorString = (delegate* unmanaged<int, byte*, int*, int>)Get("MPI_Error_string");
    }

    /// <summary>Opens <paramref name="path"/> (default <see cref="DefaultLibrary"/>).</summary>
    /// <exception cref="TesseraUserException">The library is missing or is not Open MPI's.</exception>
    public static MpiNative Open(string? path = null)
    {
        path ??= DefaultLibrary;
        if (!OperatingSystem.IsLinux()) throw new TesseraUserException($"MPI: Tessera binds Open MPI's {DefaultLibrary} on Linux only");
        const int RtldNow = 2, RtldGlobal = 0x100;
        IntPtr lib = DlOpen(path, RtldNow | RtldGlobal);
        if (lib == IntPtr.Zero)
        {
            string why = Marshal.PtrToStringAnsi(DlError()) ?? "not found";
            throw new TesseraUserException($"the process was started by an MPI launcher but {path} cannot be loaded ({why}); install Open MPI (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi3)");
        }
        return new MpiNative(lib, path);
    }

    /// <summary>Throws when an MPI call returned an error code (with MPI's default handler it aborts before that).</summary>
    public void Check(int code, string call)
    {
        if (code == 0) return;
        var text = stackalloc byte[512];
        int length = 0;
        string message = ErrorString(code, text, &length) == 0 ? System.Text.Encoding.ASCII.GetString(text, Math.Clamp(length, 0, 512)) : $"error {code}";
        throw new InvalidOperationException($"{call} failed: {message}");
    }
}
