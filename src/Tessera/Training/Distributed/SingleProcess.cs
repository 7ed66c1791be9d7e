namespace Tessera.Training.Distributed;

/// <summary>One process: rank 0 of 1, every collective leaves its arguments as they are.</summary>
public sealed class SingleProcess : ICommunicator
{
    /// <summary>The one instance.</summary>
    public static SingleProcess Instance { get; } = new();

    private SingleProcess()
    {
    }

    /// <inheritdoc />
    public int Rank => 0;

    /// <inheritdoc />
    public int Size => 1;

    /// <inheritdoc />
    public int LocalRank => 0;

    /// <inheritdoc />
    public string Describe() => "one process (rank 0/1)";

    /// <inheritdoc />
    public void AllReduce(torch.Tensor tensor, ReduceOp op = ReduceOp.Sum)
    {
    }

    /// <inheritdoc />
    public void Broadcast(torch.Tensor tensor, int root = 0)
    {
    }

    /// <inheritdoc />
    public void AllReduce(Span<double> values, ReduceOp op = ReduceOp.Sum)
    {
    }

    /// <inheritdoc />
    public void AllReduce(Span<long> values, ReduceOp op = ReduceOp.Sum)
    {
    }

    /// <inheritdoc />
    public long[] AllGather(long value) => [value];

    /// <inheritdoc />
    public void Barrier()
    {
    }

    /// <inheritdoc />
    public void Abort(int exitCode) => Environment.Exit(exitCode);

    /// <inheritdoc />
    public void Dispose()
    {
    }
}
