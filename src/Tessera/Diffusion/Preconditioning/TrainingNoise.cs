namespace Tessera.Diffusion.Preconditioning;

/// <summary>Distributions of the training noise level σ (NVlabs/edm training/loss.py, and flow matching's t).</summary>
public static class TrainingNoise
{
    /// <summary>EDM: ln σ ~ N(P_mean, P_std²), P_mean = −1.2, P_std = 1.2.</summary>
    public static torch.Tensor EdmLogNormal(long n, torch.Generator? generator = null, double pMean = -1.2, double pStd = 1.2) =>
        (torch.randn(n, torch.ScalarType.Float64, generator: generator) * pStd + pMean).exp();

    /// <summary>VP: t = 1 + U·(ε_t − 1), σ = σ_vp(t).</summary>
    public static torch.Tensor VpUniform(long n, VpPrecond vp, double epsilonT = 1e-5, torch.Generator? generator = null)
    {
        var u = torch.rand(n, torch.ScalarType.Float64, generator: generator);
        var t = u * (epsilonT - 1) + 1;
        return torch.tensor(t.data<double>().ToArray().Select(vp.Sigma).ToArray(), torch.ScalarType.Float64);
    }

    /// <summary>VE: σ = σ_min·(σ_max/σ_min)^U (log-uniform).</summary>
    public static torch.Tensor VeLogUniform(long n, double sigmaMin = 0.02, double sigmaMax = 100, torch.Generator? generator = null) =>
        (torch.rand(n, torch.ScalarType.Float64, generator: generator) * Math.Log(sigmaMax / sigmaMin)).exp() * sigmaMin;

    /// <summary>Flow matching: t ~ U(0, 1), as σ = t/(1 − t) (clipped away from 0 and 1 by <paramref name="eps"/>).</summary>
    public static torch.Tensor FlowUniform(long n, torch.Generator? generator = null, double eps = 1e-5)
    {
        var t = torch.rand(n, torch.ScalarType.Float64, generator: generator).clamp(eps, 1 - eps);
        return t / (1 - t);
    }

    /// <summary>Flow matching with logit-normal t (Esser et al. 2024, SD3): t = sigmoid(m + s·z), as σ = t/(1 − t) = exp(m + s·z).</summary>
    public static torch.Tensor FlowLogitNormal(long n, torch.Generator? generator = null, double m = 0, double s = 1) =>
        (torch.randn(n, torch.ScalarType.Float64, generator: generator) * s + m).exp();
}
