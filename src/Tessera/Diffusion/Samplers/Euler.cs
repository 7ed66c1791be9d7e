namespace Tessera.Diffusion.Samplers;

/// <summary>Euler's method on the probability-flow ODE dx/dσ = (x − D(x; σ))/σ (EDM eq. 3 with s = 1; k-diffusion sample_euler).</summary>
public static class Euler
{
    /// <summary>Samples from <paramref name="x"/> at σ₀ down the grid; one evaluation per step.</summary>
    public static torch.Tensor Sample(Denoiser model, torch.Tensor x, IReadOnlyList<double> sigmas, Action<SamplerStep>? callback = null) =>
        SamplerMath.Loop(model, x, sigmas, callback, (i, cur, s, sn, denoised) =>
        {
            // x_{i+1} = x_i + (σ_{i+1} − σ_i)·(x_i − D)/σ_i
            return cur.Plus(SamplerMath.ToD(cur, s, denoised).Times(sn - s));
        });
}
