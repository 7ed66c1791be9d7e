using Tessera.Runtime;
namespace Tessera.Training.Distributed;

/// <summary>
/// <see cref="ICommunicator"/> over Open MPI's MPI_COMM_WORLD (<see cref="MpiNative"/>): MPI_Init_thread with
/// MPI_THREAD_SERIALIZED when created, MPI_Finalize when disposed. Tensors are reduced in place on the host (a CUDA
/// tensor goes through a host copy; <see cref="NcclCommunicator"/> is the GPU path). Every collective blocks; with
/// Open MPI's default error handler a failed call aborts the job, and mpirun ends every rank when one exits abnormally.
/// </summary>
public sealed unsafe class MpiCommunicator : ICommunicator
{
    private readonly MpiNative _mpi;
    private readonly string _source;
    private bool _disposed;

    /// <inheritdoc />
    public int Rank { get; }

    /// <inheritdoc />
    public int Size { get; }

    /// <inheritdoc />
    public int LocalRank { get; }

    /// <summary>The thread support MPI granted (0 single … 3 multiple).</summary>
    public int ThreadLevel { get; }

    /// <summary>
    /// Initialises MPI (once per process) and joins MPI_COMM_WORLD. <paramref name="source"/> says where the launch
    /// was recognised (for <see cref="Describe"/>); <paramref name="localRank"/> is the rank on this machine.
    /// </summary>
    /// <exception cref="TesseraUserException">libmpi is missing or is not Open MPI's.</exception>
    internal MpiCommunicator(string source, int localRank, string? library = null)
    {
        _mpi = MpiNative.Open(library);
        _source = source;
        int flag = 0, provided = 0, rank = 0, size = 0;
        _mpi.Check(_mpi.Initialized(&flag), "MPI_Initialized");
        if (flag == 0) _mpi.Check(_mpi.InitThread(IntPtr.Zero, IntPtr.Zero, MpiNative.ThreadSerialized, &provided), "MPI_Init_thread");
        ThreadLevel = provided;
        _mpi.Check(_mpi.CommRank(_mpi.CommWorld, &rank), "MPI_Comm_rank");
        _mpi.Check(_mpi.CommSize(_mpi.CommWorld, &size), "MPI_Comm_size");
        Rank = rank;
        Size = size;
        LocalRank = localRank;
    }

    /// <inheritdoc />
    public string Describe() => $"rank {Rank}/{Size} from {_source}";

    /// <inheritdoc />
    public void AllReduce(torch.Tensor tensor, ReduceOp op = ReduceOp.Sum)
    {
        if (tensor.device_type != DeviceType.CPU)
        {
            using var host = tensor.cpu().contiguous();
            AllReduce(host, op);
            tensor.copy_(host);
            return;
        }
        IntPtr type = TypeOf(tensor);
        long n = tensor.numel();
        long size = tensor.element_size();
        IntPtr data = TensorMemory.Pointer(tensor);
        // MPI counts are ints: reduce in chunks of 2³⁰ elements.
        for (long first = 0; first < n; first += 1L << 30)
        {
            int count = (int)Math.Min(1L << 30, n - first);
            _mpi.Check(_mpi.Allreduce(MpiNative.InPlace, data + (nint)(first * size), count, type, op == ReduceOp.Max ? _mpi.OpMax : _mpi.OpSum, _mpi.CommWorld), "MPI_Allreduce");
        }
        if (op == ReduceOp.Average && Size > 1) tensor.div_(Size);
    }

    /// <inheritdoc />
    public void Broadcast(torch.Tensor tensor, int root = 0)
    {
        if (tensor.device_type != DeviceType.CPU)
        {
            using var host = tensor.cpu().contiguous();
            Broadcast(host, root);
            tensor.copy_(host);
            return;
        }
        // As bytes, so any element type goes.
        long bytes = tensor.numel() * tensor.element_size();
        IntPtr data = TensorMemory.Pointer(tensor);
        for (long first = 0; first < bytes; first += 1L << 30)
            _mpi.Check(_mpi.Bcast(data + (nint)first, (int)Math.Min(1L << 30, bytes - first), _mpi.Byte, root, _mpi.CommWorld), "MPI_Bcast");
    }

    /// <summary>Broadcasts raw bytes from <paramref name="root"/> (e.g. NCCL's unique id).</summary>
    internal void Broadcast(Span<byte> bytes, int root)
    {
        fixed (byte* p = bytes) _mpi.Check(_mpi.Bcast((IntPtr)p, bytes.Length, _mpi.Byte, root, _mpi.CommWorld), "MPI_Bcast");
    }

    /// <inheritdoc />
    public void AllReduce(Span<double> values, ReduceOp op = ReduceOp.Sum)
    {
        fixed (double* p = values)
            _mpi.Check(_mpi.Allreduce(MpiNative.InPlace, (IntPtr)p, values.Length, _mpi.Double, op == ReduceOp.Max ? _mpi.OpMax : _mpi.OpSum, _mpi.CommWorld), "MPI_Allreduce");
        if (op == ReduceOp.Average) for (int i = 0; i < values.Length; i++) values[i] /= Size;
    }

    /// <inheritdoc />
    public void AllReduce(Span<long> values, ReduceOp op = ReduceOp.Sum)
    {
        if (op == ReduceOp.Average) throw new ArgumentException("counts are summed or maximised, not averaged", nameof(op));
        fixed (long* p = values)
            _mpi.Check(_mpi.Allreduce(MpiNative.InPlace, (IntPtr)p, values.Length, _mpi.Int64, op == ReduceOp.Max ? _mpi.OpMax : _mpi.OpSum, _mpi.CommWorld), "MPI_Allreduce");
    }

    /// <inheritdoc />
    public long[] AllGather(long value)
    {
        var all = new long[Size];
        fixed (long* p = all)
            _mpi.Check(_mpi.Allgather((IntPtr)(&value), 1, _mpi.Int64, (IntPtr)p, 1, _mpi.Int64, _mpi.CommWorld), "MPI_Allgather");
        return all;
    }

    /// <inheritdoc />
    public void Barrier() => _mpi.Check(_mpi.Barrier(_mpi.CommWorld), "MPI_Barrier");

    /// <inheritdoc />
    public void Abort(int exitCode)
    {
        Console.Out.Flush();
        Console.Error.Flush();
        _mpi.Abort(_mpi.CommWorld, exitCode);
    }

    /// <summary>Finalises MPI (a collective: every rank ends this way, or one aborts).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        int done = 0;
        if (_mpi.Finalized(&done) == 0 && done == 0) _mpi.Finalize();
    }

    private IntPtr TypeOf(torch.Tensor t) => t.dtype switch
    {
        torch.ScalarType.Float32 => _mpi.Float,
        torch.ScalarType.Float64 => _mpi.Double,
        torch.ScalarType.Int64 => _mpi.Int64,
        _ => throw new ArgumentException($"all-reduce takes float32, float64 or int64 tensors, not {t.dtype}"),
    };
}
