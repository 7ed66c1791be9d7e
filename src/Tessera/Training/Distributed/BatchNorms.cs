namespace Tessera.Training.Distributed;

/// <summary>
/// Builds a model's 2-d batch-norm layers: TorchSharp's BatchNorm2d, or <see cref="SyncBatchNorm2d"/> while a
/// <see cref="Synchronised"/> scope is open on the building thread (the engine opens one around building the model when
/// <see cref="TrainingOptions.SyncBatchNorm"/> is set). Both have the same parameter and buffer names, so a checkpoint
/// loads into either; <see cref="Statistics"/> reads either's affine and running statistics (for folding into a convolution).
/// </summary>
public static class BatchNorms
{
    [ThreadStatic] private static ICommunicator? _sync;

    /// <summary>A batch norm over <paramref name="features"/> channels: synchronised inside a <see cref="Synchronised"/> scope.</summary>
    public static torch.nn.Module<torch.Tensor, torch.Tensor> Create(long features, double eps = 1e-5, double momentum = 0.1) =>
        _sync is { } communicator ? new SyncBatchNorm2d(features, communicator, eps, momentum) : torch.nn.BatchNorm2d(features, eps, momentum);

    /// <summary>Until disposed, <see cref="Create"/> on this thread builds layers synchronised over <paramref name="communicator"/>.</summary>
    public static IDisposable Synchronised(ICommunicator communicator)
    {
        var previous = _sync;
        _sync = communicator;
        return new Restore(previous);
    }

    /// <summary>The running mean and variance, scale, shift and ε of a BatchNorm2d or <see cref="SyncBatchNorm2d"/>.</summary>
    /// <exception cref="ArgumentException">Another kind of module.</exception>
    public static (torch.Tensor? Mean, torch.Tensor? Var, torch.Tensor? Weight, torch.Tensor? Bias, double Eps) Statistics(torch.nn.Module norm) => norm switch
    {
        TorchSharp.Modules.BatchNorm2d b => (b.running_mean, b.running_var, b.weight, b.bias, b.eps),
        SyncBatchNorm2d s => (s.State.Mean, s.State.Var, s.State.Weight, s.State.Bias, s.Eps),
        _ => throw new ArgumentException($"{norm.GetType().Name} is not a 2-d batch norm", nameof(norm)),
    };

    private sealed class Restore(ICommunicator? previous) : IDisposable
    {
        public void Dispose() => _sync = previous;
    }
}
