using Tessera.Runtime;
namespace Tessera.Training.Distributed;

/// <summary>
/// <see cref="ICommunicator"/> for CUDA devices: tensors are reduced and broadcast by NCCL (libnccl.so.2, loaded at
/// run time) on the device, everything else (small host arrays, the barrier, abort) goes through the
/// <see cref="MpiCommunicator"/> the ranks were launched with. Rank 0 makes the NCCL unique id (ncclGetUniqueId), MPI
/// broadcasts it, every rank joins with ncclCommInitRank on its local GPU. Collectives run on the legacy default
/// stream (0), which libtorch's kernels also use unless a stream is set, and the call waits for them
/// (torch.cuda.synchronize), so the tensors are ready when it returns.
/// </summary>
public sealed unsafe class NcclCommunicator : ICommunicator
{
    /// <summary>The library's file name.</summary>
    public const string Library = "libnccl.so.2";

    // ncclDataType_t and ncclRedOp_t (nccl.h, NCCL ≥ 2.10 for ncclAvg).
    private const int NcclInt64 = 4, NcclFloat32 = 7, NcclFloat64 = 8, NcclUint8 = 1;
    private const int NcclSum = 0, NcclMax = 2, NcclAvg = 4;

    [StructLayout(LayoutKind.Sequential, Size = 128)]
    private struct UniqueId
    {
        private fixed byte _bytes[128];
    }

    private readonly MpiCommunicator _mpi;
    private readonly IntPtr _comm;
    private readonly delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int> _allReduce;
    private readonly delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int> _broadcast;
    private readonly delegate* unmanaged<IntPtr, int> _destroy;
    private readonly delegate* unmanaged<int, IntPtr> _errorString;
    private bool _disposed;

    /// <summary>Joins a NCCL communicator over the ranks of <paramref name="mpi"/>, one GPU per rank (the local rank's).</summary>
    /// <exception cref="TesseraUserException">libnccl.so.2 is not installed.</exception>
    public NcclCommunicator(MpiCommunicator mpi)
    {
        _mpi = mpi;
        if (!NativeLibrary.TryLoad(Library, out var lib))
            throw new TesseraUserException($"training on CUDA with {mpi.Size} ranks needs NCCL, but {Library} cannot be loaded; install NCCL 2 (e.g. the libnccl2 package of NVIDIA's CUDA repository) or put it on LD_LIBRARY_PATH");
        IntPtr Get(string name) => NativeLibrary.TryGetExport(lib, name, out var p) ? p : throw new TesseraUserException($"{Library} does not export {name} (NCCL 2.10 or later is needed)");
        var getId = (delegate* unmanaged<UniqueId*, int>)Get("ncclGetUniqueId");
        var init = (delegate* unmanaged<IntPtr*, int, UniqueId, int, int>)Get("ncclCommInitRank");
        _allReduce = (delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int>)Get("ncclAllReduce");
        _broadcast = (delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int>)Get("ncclBroadcast");
        _destroy = (delegate* unmanaged<IntPtr, int>)Get("ncclCommDestroy");
        _errorString = (delegate* unmanaged<int, IntPtr>)Get("ncclGetErrorString");
        UniqueId id = default;
        if (mpi.Rank == 0) Check(getId(&id), "ncclGetUniqueId");
        mpi.Broadcast(new Span<byte>(&id, sizeof(UniqueId)), 0);
        IntPtr comm;
        Check(init(&comm, mpi.Size, id, mpi.Rank), "ncclCommInitRank");
        _comm = comm;
    }

    /// <inheritdoc />
    public int Rank => _mpi.Rank;

    /// <inheritdoc />
    public int Size => _mpi.Size;

    /// <inheritdoc />
    public int LocalRank => _mpi.LocalRank;

    /// <inheritdoc />
    public string Describe() => _mpi.Describe() + ", NCCL on cuda:" + LocalRank;

    /// <inheritdoc />
    public void AllReduce(torch.Tensor tensor, ReduceOp op = ReduceOp.Sum)
    {
        if (tensor.device_type != DeviceType.CUDA)
        {
            _mpi.AllReduce(tensor, op);
            return;
        }
        IntPtr data = TensorMemory.Pointer(tensor);
        int redOp = op switch { ReduceOp.Average => NcclAvg, ReduceOp.Max => NcclMax, _ => NcclSum };
        Check(_allReduce(data, data, (nuint)tensor.numel(), TypeOf(tensor), redOp, _comm, IntPtr.Zero), "ncclAllReduce");
        torch.cuda.synchronize();
    }

    /// <inheritdoc />
    public void Broadcast(torch.Tensor tensor, int root = 0)
    {
        if (tensor.device_type != DeviceType.CUDA)
        {
            _mpi.Broadcast(tensor, root);
            return;
        }
        IntPtr data = TensorMemory.Pointer(tensor);
        Check(_broadcast(data, data, (nuint)(tensor.numel() * tensor.element_size()), NcclUint8, root, _comm, IntPtr.Zero), "ncclBroadcast");
        torch.cuda.synchronize();
    }

    /// <inheritdoc />
    public void AllReduce(Span<double> values, ReduceOp op = ReduceOp.Sum) => _mpi.AllReduce(values, op);

    /// <inheritdoc />
    public void AllReduce(Span<long> values, ReduceOp op = ReduceOp.Sum) => _mpi.AllReduce(values, op);

    /// <inheritdoc />
    public long[] AllGather(long value) => _mpi.AllGather(value);

    /// <inheritdoc />
    public void Barrier() => _mpi.Barrier();

    /// <inheritdoc />
    public void Abort(int exitCode) => _mpi.Abort(exitCode);

    /// <summary>Destroys the NCCL communicator, then finalises MPI.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _destroy(_comm);
        _mpi.Dispose();
    }

    private void Check(int result, string call)
    {
        if (result != 0) throw new InvalidOperationException($"{call} failed: {Marshal.PtrToStringAnsi(_errorString(result))} (NCCL result {result})");
    }

    private static int TypeOf(torch.Tensor t) => t.dtype switch
    {
        torch.ScalarType.Float32 => NcclFloat32,
        torch.ScalarType.Float64 => NcclFloat64,
        torch.ScalarType.Int64 => NcclInt64,
        _ => throw new ArgumentException($"all-reduce takes float32, float64 or int64 tensors, not {t.dtype}"),
    };
}
