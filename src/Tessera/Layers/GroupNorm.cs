namespace Tessera.Layers;

/// <summary>
/// Group normalisation (Wu and He 2018, eq. 1–2): per sample and group of C/G channels, x̂ = (x − μ)/√(σ² + ε),
/// then γ·x̂ + β per channel, through libtorch's group_norm (one kernel, and a backward that keeps only the input
/// and the statistics); parameters named <c>weight</c> and <c>bias</c> as in PyTorch's GroupNorm so state dicts
/// carry over. Tessera's own module rather than TorchSharp's <c>torch.nn.GroupNorm</c>, whose weight and bias
/// TorchSharp 0.107 leaves uninitialised (whatever the freed memory held: NaN, 1e21, …); see docs/known-issues.md.
/// </summary>
public sealed class GroupNorm : torch.nn.Module<torch.Tensor, torch.Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter bias;
    private readonly int _groups;
    private readonly double _eps;

    /// <summary>Creates the layer for <paramref name="channels"/> channels in <paramref name="groups"/> groups; γ = 1, β = 0.</summary>
    public GroupNorm(int groups, int channels, double eps = 1e-5) : base(nameof(GroupNorm))
    {
        if (groups < 1 || channels % groups != 0) throw new TesseraUserException(nameof(groups), $"{channels} channels do not split into {groups} groups");
        (_groups, _eps) = (groups, eps);
        weight = new Parameter(torch.ones(channels));
        bias = new Parameter(torch.zeros(channels));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x) => torch.nn.functional.group_norm(x, _groups, weight, bias, _eps);
}
