namespace Tessera.Diffusion.Evaluation;

/// <summary>
/// The Fréchet (2-Wasserstein) distance between Gaussians fitted to two feature sets (Dowson and Landau 1982;
/// the statistic of Heusel et al. 2017 on another network's features):
/// d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁^½ Σ₂ Σ₁^½)^½), in float64 with symmetric eigendecompositions.
/// </summary>
public static class FrechetDistance
{
    /// <summary>Mean [D] and covariance [D, D] (unbiased) of features [N, D], float64.</summary>
    public static (torch.Tensor Mean, torch.Tensor Covariance) Statistics(torch.Tensor features)
    {
        using var scope = torch.NewDisposeScope();
        var f = features.to(torch.ScalarType.Float64).cpu();
        var mu = f.mean([0]);
        var c = f - mu;
        var cov = torch.matmul(c.t(), c) / (f.shape[0] - 1);
        return (mu.MoveToOuterDisposeScope(), cov.MoveToOuterDisposeScope());
    }

    private static torch.Tensor SqrtPsd(torch.Tensor m)
    {
        var (values, vectors) = torch.linalg.eigh((m + m.t()) / 2);
        return torch.matmul(vectors * values.clamp_min(0).sqrt().unsqueeze(0), vectors.t());
    }

    /// <summary>d² between N(μ₁, Σ₁) and N(μ₂, Σ₂).</summary>
    public static double Compute(torch.Tensor mu1, torch.Tensor sigma1, torch.Tensor mu2, torch.Tensor sigma2)
    {
        using var scope = torch.NewDisposeScope();
        var s1 = SqrtPsd(sigma1);
        var inner = torch.matmul(torch.matmul(s1, sigma2), s1);
        var (values, _) = torch.linalg.eigh((inner + inner.t()) / 2);
        double traceSqrt = values.clamp_min(0).sqrt().sum().item<double>();
        double diff = (mu1 - mu2).square().sum().item<double>();
        return diff + sigma1.trace().item<double>() + sigma2.trace().item<double>() - 2 * traceSqrt;
    }

    /// <summary>d² between the Gaussians fitted to two feature sets.</summary>
    public static double Compute(torch.Tensor features1, torch.Tensor features2)
    {
        var (m1, s1) = Statistics(features1);
        var (m2, s2) = Statistics(features2);
        using (m1) using (s1) using (m2) using (s2) return Compute(m1, s1, m2, s2);
    }
}
