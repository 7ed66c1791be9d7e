namespace Tessera.Diffusion.Samplers;

/// <summary>
/// DDIM (Song, Meng and Ermon 2021, eq. 12) in its own variance-preserving coordinates: with
/// ᾱ = 1/(1 + σ²), x_vp = √ᾱ·x, ε̂ = (x − D)/σ and σ_t(η) = η·√((1 − ᾱₙ)/(1 − ᾱ))·√(1 − ᾱ/ᾱₙ),
/// x_vp' = √ᾱₙ·D + √(1 − ᾱₙ − σ_t²)·ε̂ + σ_t·z, mapped back by x' = x_vp'/√ᾱₙ.
/// With η = 0 this is exactly Euler in σ; with η = 1 it is DDPM's ancestral sampler.
/// </summary>
public static class Ddim
{
    /// <summary>Samples down the grid; one evaluation per step.</summary>
    public static torch.Tensor Sample(Denoiser model, torch.Tensor x, IReadOnlyList<double> sigmas, double eta = 0, INoiseSource? noise = null, Action<SamplerStep>? callback = null)
    {
        if (eta > 0 && noise is null) throw new ArgumentNullException(nameof(noise), "η > 0 needs a noise source");
        return SamplerMath.Loop(model, x, sigmas, callback, (i, cur, s, sn, denoised) =>
        {
            double a = 1 / (1 + s * s), an = 1 / (1 + sn * sn);
            var eps = (cur - denoised).Over(s);
            double st = eta * Math.Sqrt((1 - an) / (1 - a)) * Math.Sqrt(1 - a / an);
            var xvp = denoised.Times(Math.Sqrt(an)).Plus(eps.Times(Math.Sqrt(Math.Max(0, 1 - an - st * st))));
            if (st > 0) xvp = xvp.Plus(noise!.Next(cur).Times(st));
            return xvp.Over(Math.Sqrt(an));
        });
    }
}
