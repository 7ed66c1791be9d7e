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
        return SamplerMath.Loop(model, x, sigmas, callback, (i, cur, s, sn, denoised) =>
        {
            if (sn == 0) return denoised;
            var score = (denoised - cur).Over(s * s);
            return cur.Plus(score.Times(2 * s * (s - sn))).Plus(noise.Next(cur).Times(Math.Sqrt(2 * s * (s - sn))));
        });
    }
}
