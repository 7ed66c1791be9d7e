namespace Tessera.Diffusion.Samplers;

/// <summary>
/// Heun's second-order method (EDM Algorithm 1, S_churn = 0; k-diffusion sample_heun): an Euler
/// predictor, then the average of the two slopes; the step to σ = 0 is plain Euler.
/// </summary>
public static class Heun
{
    /// <summary>Samples down the grid; two evaluations per step, one for the last.</summary>
    public static torch.Tensor Sample(Denoiser model, torch.Tensor x, IReadOnlyList<double> sigmas, Action<SamplerStep>? callback = null) =>
        SamplerMath.Loop(model, x, sigmas, callback, (i, cur, s, sn, denoised) =>
        {
            return HeunStep(model, cur, s, sn, denoised);
        });

    /// <summary>One Heun step from (x, σ) with D(x; σ) known: x' = x + (σₙ − σ)·d; if σₙ > 0, x' = x + (σₙ − σ)·(d + d')/2.</summary>
    internal static torch.Tensor HeunStep(Denoiser model, torch.Tensor x, double s, double sn, torch.Tensor denoised)
    {
        var d = SamplerMath.ToD(x, s, denoised);
        var euler = x.Plus(d.Times(sn - s));
        if (sn == 0) return euler;
        var d2 = SamplerMath.ToD(euler, sn, model(euler, sn));
        return x.Plus(d.Plus(d2).Times(0.5 * (sn - s)));
    }
}
