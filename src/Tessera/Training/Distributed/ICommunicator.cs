namespace Tessera.Training.Distributed;

/// <summary>How a collective combines the ranks' values.</summary>
public enum ReduceOp
{
    /// <summary>The sum over ranks.</summary>
    Sum,
    /// <summary>The sum over ranks divided by their number.</summary>
    Average,
    /// <summary>The largest value over ranks.</summary>
    Max,
}

/// <summary>
/// The collectives data-parallel training needs, over the <see cref="Size"/> processes of one job: the same calls in
/// the same order on every rank. <see cref="SingleProcess"/> (size 1, every call a no-op), <see cref="MpiCommunicator"/>
/// (Open MPI, CPU tensors) and <see cref="NcclCommunicator"/> (CUDA tensors through NCCL, the rest through MPI).
/// </summary>
public interface ICommunicator : IDisposable
{
    /// <summary>This process's rank, 0 ≤ Rank &lt; Size; rank 0 writes the run's files.</summary>
    int Rank { get; }

    /// <summary>Number of processes.</summary>
    int Size { get; }

    /// <summary>This process's rank among those on its machine (which GPU it takes).</summary>
    int LocalRank { get; }

    /// <summary>One line for a verb's first line of output, e.g. "rank 1/2 from Open MPI (OMPI_COMM_WORLD_RANK/SIZE)".</summary>
    string Describe();

    /// <summary>Reduces a contiguous float32 or float64 tensor over the ranks, in place.</summary>
    void AllReduce(torch.Tensor tensor, ReduceOp op = ReduceOp.Sum);

    /// <summary>Copies <paramref name="tensor"/> of rank <paramref name="root"/> into every rank's (contiguous, same shape and type).</summary>
    void Broadcast(torch.Tensor tensor, int root = 0);

    /// <summary>Reduces a small host array over the ranks, in place.</summary>
    void AllReduce(Span<double> values, ReduceOp op = ReduceOp.Sum);

    /// <summary>Sums (or takes the largest of) a small host array of counts over the ranks, in place.</summary>
    void AllReduce(Span<long> values, ReduceOp op = ReduceOp.Sum);

    /// <summary>Every rank's <paramref name="value"/>, indexed by rank.</summary>
    long[] AllGather(long value);

    /// <summary>Waits until every rank has called it.</summary>
    void Barrier();

    /// <summary>Ends every process of the job with <paramref name="exitCode"/> (a rank that failed calls it after reporting, so no rank waits in a collective).</summary>
    void Abort(int exitCode);
}
