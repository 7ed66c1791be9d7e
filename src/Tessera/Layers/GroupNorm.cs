using TorchSharp;
using TorchSharp.Modules;

namespace Tessera.Layers;

/// <summary>
/// Group normalisation (Wu and He 2018, eq. 1–2): per sample and group of C/G channels, x̂ = (x − μ)/√(σ² + ε),
/// then γ·x̂ + β per channel; parameters named <c>weight</c> and <c>bias</c> as in PyTorch's GroupNorm so state
/// dicts carry over. Not libtorch's group_norm, because libtorch 2.10's CPU group_norm
/// (through TorchSharp 0.107) returned NaN on the project's machines whenever its output memory had held NaN
/// before — 200 of 200 trials; see docs/known-issues.md. The statistics go through batch_norm on a [1, B·G, ·] view,
/// whose backward keeps as little as native group_norm's.
/// </summary>
public sealed class GroupNorm : torch.nn.Module<torch.Tensor, torch.Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly int _groups;
    private readonly double _eps;

    /// <summary>Creates the layer for <paramref name="channels"/> channels in <paramref name="groups"/> groups.</summary>
    public GroupNorm(int groups, int channels, double eps = 1e-5) : base(nameof(GroupNorm))
    {
        if (groups < 1 || channels % groups != 0) throw new ArgumentException($"{channels} channels do not split into {groups} groups");
        (_groups, _eps) = (groups, eps);
        weight = new Parameter(torch.ones(channels));
        bias = new Parameter(torch.zeros(channels));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], c = x.shape[1];
        // Each (sample, group) as one channel of a batch norm in training mode: the same biased statistics, and
        // libtorch's batch_norm keeps only the input, mean and inverse std for backward (memory as native GN).
        var g = x.reshape(1, b * _groups, -1);
        var normed = torch.nn.functional.batch_norm(g, null, null, null, null, training: true, momentum: 0, eps: _eps).reshape(x.shape);
        long[] affine = [1, c, .. Enumerable.Repeat(1L, (int)x.dim() - 2)];
        return (normed * weight.reshape(affine) + bias.reshape(affine)).MoveToOuterDisposeScope();
    }
}
