namespace Tessera.Diffusion.Samplers;

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
                var grad = (model(cur, s) - cur).Over(s * s);
                var z = noise.Next(cur);
                double gradNorm = PerSampleNorm(grad), noiseNorm = PerSampleNorm(z);
                double eps = 2 * Math.Pow(snr * noiseNorm / Math.Max(gradNorm, 1e-300), 2);
                cur = cur.Plus(grad.Times(eps)).Plus(z.Times(Math.Sqrt(2 * eps)));
            }
            var denoised = model(cur, s);
            callback?.Invoke(new SamplerStep(i, s, sn, cur, denoised));
            var next = cur.Plus((denoised - cur).Over(s * s).Times(s * s - sn * sn));
            return sn > 0 ? next.Plus(noise.Next(cur).Times(Math.Sqrt(s * s - sn * sn))) : next;
        });
    }

    /// <summary>Mean over the batch of each sample's L2 norm.</summary>
    internal static double PerSampleNorm(torch.Tensor t) => t.reshape(t.shape[0], -1).norm(1).mean().item<double>();
}
