using TorchSharp;

namespace Tessera.Diffusion.Samplers;

/// <summary>
/// Euler–Maruyama on the reverse-time SDE of the σ(t) = t, s = 1 process (Song et al. 2021 eq. 6 with
/// f = 0, g² = 2σ): x' = x + 2(σ − σₙ)·σ·∇log p(x; σ) + √(2σ(σ − σₙ))·z, ∇log p = (D − x)/σ². The step
/// to σ = 0 returns D (the usual final denoising).
/// </summary>
public static class EulerMaruyama
{
    /// <summary>Samples down the grid; one evaluation per step.</summary>
    public static torch.Tensor Sample(Denoiser model, torch.Tensor x, IReadOnlyList<double> sigmas, INoiseSource noise, Action<SamplerStep>? callback = null)
    {
        return SamplerMath.Loop(x, sigmas, (i, cur, s, sn) =>
        {
            var denoised = model(cur, s);
            callback?.Invoke(new SamplerStep(i, s, sn, cur, denoised));
            if (sn == 0) return denoised;
            var score = (denoised - cur) / (s * s);
            return cur + score * (2 * s * (s - sn)) + noise.Next(cur) * Math.Sqrt(2 * s * (s - sn));
        });
    }
}

/// <summary>
/// Predictor–corrector sampling (Song et al. 2021, Algorithm 2 for VE): at each σ, Langevin corrector
/// steps x ← x + ε·∇log p + √(2ε)·z with ε = 2(r·‖z‖/‖∇log p‖)² (r = signal-to-noise ratio, norms
/// averaged over the batch), then the reverse-diffusion predictor to σₙ: x ← x + (σ² − σₙ²)·∇log p(x; σ)
/// + √(σ² − σₙ²)·z. The predictor to σ = 0 adds no noise.
/// </summary>
public static class PredictorCorrector
{
    /// <summary>Samples down the grid; 1 + <paramref name="correctorSteps"/> evaluations per step.</summary>
    public static torch.Tensor Sample(Denoiser model, torch.Tensor x, IReadOnlyList<double> sigmas, INoiseSource noise, double snr = 0.16, int correctorSteps = 1, Action<SamplerStep>? callback = null)
    {
        return SamplerMath.Loop(x, sigmas, (i, cur, s, sn) =>
        {
            for (int c = 0; c < correctorSteps; c++)
            {
                var grad = (model(cur, s) - cur) / (s * s);
                var z = noise.Next(cur);
                double gradNorm = PerSampleNorm(grad), noiseNorm = PerSampleNorm(z);
                double eps = 2 * Math.Pow(snr * noiseNorm / Math.Max(gradNorm, 1e-300), 2);
                cur = cur + grad * eps + z * Math.Sqrt(2 * eps);
            }
            var denoised = model(cur, s);
            callback?.Invoke(new SamplerStep(i, s, sn, cur, denoised));
            var next = cur + (denoised - cur) / (s * s) * (s * s - sn * sn);
            return sn > 0 ? next + noise.Next(cur) * Math.Sqrt(s * s - sn * sn) : next;
        });
    }

    /// <summary>Mean over the batch of each sample's L2 norm.</summary>
    internal static double PerSampleNorm(torch.Tensor t) => t.reshape(t.shape[0], -1).norm(1).mean().item<double>();
}

/// <summary>
/// Annealed Langevin dynamics (Song and Ermon 2019, NCSN Algorithm 1): for each σᵢ, T steps of
/// x ← x + (αᵢ/2)·∇log p(x; σᵢ) + √αᵢ·z with αᵢ = ε·σᵢ²/σ_L²; then one denoising step x ← D(x; σ_L).
/// The default ε keeps NCSN's ratio ε/σ_L² = 2·10⁻⁵/0.01² = 0.2 whatever σ_L is (a fixed ε diverges when
/// σ_L is small: the update is stable only for ε/σ_L² &lt; 2).
/// </summary>
public static class AnnealedLangevin
{
    /// <summary>Samples over the grid's non-zero σ's; T evaluations per level plus one.</summary>
    public static torch.Tensor Sample(Denoiser model, torch.Tensor x, IReadOnlyList<double> sigmas, INoiseSource noise, int stepsPerLevel = 5, double epsilon = double.NaN, Action<SamplerStep>? callback = null)
    {
        SamplerMath.CheckGrid(sigmas);
        var levels = sigmas.Where(v => v > 0).ToArray();
        double last = levels[^1];
        if (double.IsNaN(epsilon)) epsilon = 0.2 * last * last;
        var cur = x.alias();
        for (int i = 0; i < levels.Length; i++)
        {
            double s = levels[i], alpha = epsilon * s * s / (last * last);
            for (int t = 0; t < stepsPerLevel; t++)
            {
                using var scope = torch.NewDisposeScope();
                var denoised = model(cur, s);
                if (t == 0) callback?.Invoke(new SamplerStep(i, s, i + 1 < levels.Length ? levels[i + 1] : 0, cur, denoised));
                var next = cur + (denoised - cur) / (s * s) * (alpha / 2) + noise.Next(cur) * Math.Sqrt(alpha);
                cur.Dispose();
                cur = next.MoveToOuterDisposeScope();
            }
        }
        var final = model(cur, last);
        cur.Dispose();
        return final;
    }
}
