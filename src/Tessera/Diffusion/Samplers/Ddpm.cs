namespace Tessera.Diffusion.Samplers;

/// <summary>
/// DDPM ancestral sampling (Ho et al. 2020, Algorithm 2) between the grid's noise levels, in VP
/// coordinates: αₜ = ᾱ/ᾱₙ, βₜ = 1 − αₜ, x_vp' = (x_vp − βₜ/√(1 − ᾱ)·ε̂)/√αₜ + √β̃ₜ·z with the posterior
/// variance β̃ₜ = (1 − ᾱₙ)/(1 − ᾱ)·βₜ.
/// </summary>
public static class Ddpm
{
    /// <summary>Samples down the grid; one evaluation per step.</summary>
    public static torch.Tensor Sample(Denoiser model, torch.Tensor x, IReadOnlyList<double> sigmas, INoiseSource noise, Action<SamplerStep>? callback = null)
    {
        return SamplerMath.Loop(model, x, sigmas, callback, (i, cur, s, sn, denoised) =>
        {
            double a = 1 / (1 + s * s), an = 1 / (1 + sn * sn), alpha = a / an, beta = 1 - alpha;
            var eps = (cur - denoised).Over(s);
            var xvp = cur.Times(Math.Sqrt(a));
            var mean = (xvp - eps.Times(beta / Math.Sqrt(1 - a))).Over(Math.Sqrt(alpha));
            double var = (1 - an) / (1 - a) * beta;
            if (var > 0) mean = mean.Plus(noise.Next(cur).Times(Math.Sqrt(var)));
            return mean.Over(Math.Sqrt(an));
        });
    }
}
