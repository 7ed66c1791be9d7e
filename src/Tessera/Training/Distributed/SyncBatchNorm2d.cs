namespace Tessera.Training.Distributed;

/// <summary>
/// Batch normalisation (Ioffe and Szegedy 2015, Algorithm 1) whose training-mode statistics are those of the whole batch
/// over all ranks: synchronised BatchNorm, as mmsegmentation trains with (PyTorch's torch.nn.SyncBatchNorm,
/// torch/nn/modules/_functions.py). Its parameters and buffers have BatchNorm2d's names (weight, bias, running_mean,
/// running_var, num_batches_tracked), so checkpoints are the same; in evaluation mode it is BatchNorm2d.
/// <para>
/// PyTorch gathers each rank's mean and inverse deviation and, backwards, all-reduces Σ∂L/∂y and Σ∂L/∂y·(x − μ) in a
/// hand-written backward. Here the forward is written with differentiable operations around one
/// <see cref="AllReduceFunction"/> (whose backward all-reduces the gradient), so libtorch's autograd derives the same
/// gradient: each rank's count nᵣ, Σx = nᵣ·mᵣ and Σx² = M2ᵣ + nᵣ·mᵣ² (mᵣ, M2ᵣ the rank's mean and centred sum of
/// squares, exact in float32) are summed over the ranks in float64, μ = Σx/N and σ² = Σx²/N − μ² (Chan, Golub and
/// LeVeque 1979, the pairwise combination of moments).
/// </para>
/// The running statistics follow BatchNorm2d: r ← (1 − momentum)·r + momentum·s with the unbiased variance σ²·N/(N − 1),
/// identical on every rank.
/// </summary>
public sealed class SyncBatchNorm2d : torch.nn.Module<torch.Tensor, torch.Tensor>
{
    private readonly ICommunicator _communicator;
    private readonly double _momentum;
    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly torch.Tensor running_mean;
    private readonly torch.Tensor running_var;
    private readonly torch.Tensor num_batches_tracked;

    /// <summary>Creates the layer for <paramref name="features"/> channels over the ranks of <paramref name="communicator"/>.</summary>
    public SyncBatchNorm2d(long features, ICommunicator communicator, double eps = 1e-5, double momentum = 0.1) : base(nameof(SyncBatchNorm2d))
    {
        (_communicator, Eps, _momentum) = (communicator, eps, momentum);
        weight = new Parameter(torch.ones(features));
        bias = new Parameter(torch.zeros(features));
        running_mean = torch.zeros(features);
        running_var = torch.ones(features);
        num_batches_tracked = torch.zeros(Array.Empty<long>(), torch.ScalarType.Int64);
        RegisterComponents();
    }

    /// <summary>The ε added to the variance.</summary>
    public double Eps { get; }

    /// <summary>(running mean, running variance, γ, β) as registered (they follow the module to another device).</summary>
    internal (torch.Tensor Mean, torch.Tensor Var, torch.Tensor Weight, torch.Tensor Bias) State =>
        (get_buffer(nameof(running_mean))!, get_buffer(nameof(running_var))!, get_parameter(nameof(weight))!, get_parameter(nameof(bias))!);

    /// <summary>Normalises [N, C, H, W] with the statistics of the batch over all ranks (training) or the running ones (evaluation).</summary>
    public override torch.Tensor forward(torch.Tensor x)
    {
        if (!training) return torch.nn.functional.batch_norm(x, running_mean, running_var, weight, bias, false, _momentum, Eps);
        using var scope = torch.NewDisposeScope();
        long[] dims = [0, 2, 3];
        long channels = x.shape[1], n = x.numel() / channels;
        // This rank's moments (float32, centred, so no cancellation), then Σx, Σx², count summed over the ranks in float64.
        var mean = x.mean(dims);
        var centred = x - mean.view(1, -1, 1, 1);
        var m2 = centred.square().sum(dims);
        var local = torch.cat([(mean.to(torch.ScalarType.Float64) * n), m2.to(torch.ScalarType.Float64) + mean.to(torch.ScalarType.Float64).square() * n,
            torch.full(1, (double)n, torch.ScalarType.Float64, device: x.device)]);
        var sums = AllReduceFunction.Apply(local, _communicator);
        var total = sums[2 * channels];
        var globalMean = sums[..(int)channels] / total;
        var variance = (sums[(int)channels..(int)(2 * channels)] / total - globalMean.square()).clamp_min(0);
        using (torch.no_grad())
        {
            double count = total.item<double>();
            running_mean.mul_(1 - _momentum).add_(globalMean.to(running_mean.dtype), alpha: _momentum);
            running_var.mul_(1 - _momentum).add_((variance * (count / Math.Max(1, count - 1))).to(running_var.dtype), alpha: _momentum);
            num_batches_tracked.add_(1);
        }
        // y = γ·(x − μ)/√(σ² + ε) + β, centred first as libtorch's batch_norm does (x·s − μ·s would cancel when |μ| ≫ σ).
        var scale = (variance + Eps).rsqrt().to(x.dtype) * weight;
        return ((x - globalMean.to(x.dtype).view(1, -1, 1, 1)) * scale.view(1, -1, 1, 1) + bias.view(1, -1, 1, 1)).MoveToOuterDisposeScope();
    }
}
