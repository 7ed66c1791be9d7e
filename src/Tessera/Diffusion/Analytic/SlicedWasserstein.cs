using TorchSharp;

namespace Tessera.Diffusion.Analytic;

/// <summary>
/// Sliced Wasserstein-2 distance (Rabin et al. 2011; Bonneel et al. 2015): the root mean over random unit
/// directions θ of the squared W₂ distance between the 1-D projections, which for equal-size samples is
/// the mean squared difference of the sorted projections.
/// </summary>
public static class SlicedWasserstein
{
    /// <summary>SW₂ between samples a [N, d] and b [N, d] over <paramref name="projections"/> directions drawn from <paramref name="generator"/>.</summary>
    public static double Distance(torch.Tensor a, torch.Tensor b, int projections, torch.Generator generator)
    {
        if (a.shape[0] != b.shape[0] || a.shape[1] != b.shape[1]) throw new ArgumentException("SW2 needs samples of equal size and dimension");
        using var scope = torch.NewDisposeScope();
        var theta = torch.randn([a.shape[1], projections], torch.ScalarType.Float64, generator: generator);
        theta = theta / theta.norm(0, keepdim: true);
        var pa = torch.sort(a.to(torch.ScalarType.Float64).matmul(theta), 0).values;
        var pb = torch.sort(b.to(torch.ScalarType.Float64).matmul(theta), 0).values;
        return (pa - pb).square().mean().sqrt().item<double>();
    }
}
