namespace Tessera.Diffusion.Samplers;

/// <summary>
/// Ancestral Euler (k-diffusion sample_euler_ancestral): an Euler step to σ_down, then fresh noise of
/// std σ_up, with (σ_down, σ_up) from <see cref="SamplerMath.AncestralStep"/>; η = 1 is DDPM-like, η = 0 is Euler.
/// </summary>
public static class EulerAncestral
{
    /// <summary>Samples down the grid; one evaluation per step.</summary>
    public static torch.Tensor Sample(Denoiser model, torch.Tensor x, IReadOnlyList<double> sigmas, INoiseSource noise, double eta = 1, double sNoise = 1, Action<SamplerStep>? callback = null) =>
        SamplerMath.Loop(model, x, sigmas, callback, (i, cur, s, sn, denoised) =>
        {
            var (down, up) = SamplerMath.AncestralStep(s, sn, eta);
            var next = cur.Plus(SamplerMath.ToD(cur, s, denoised).Times(down - s));
            return sn > 0 && up > 0 ? next.Plus(noise.Next(next).Times(sNoise * up)) : next;
        });
}
