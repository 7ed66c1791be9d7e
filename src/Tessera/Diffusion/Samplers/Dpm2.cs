namespace Tessera.Diffusion.Samplers;

/// <summary>
/// DPM-Solver-2 in k-diffusion's form (sample_dpm_2): a midpoint step at σ_mid = exp((ln σ + ln σₙ)/2),
/// x' = x + (σ_mid − σ)·d, then x ← x + (σₙ − σ)·d(x', σ_mid); the step to σ = 0 is Euler.
/// </summary>
public static class Dpm2
{
    /// <summary>Samples down the grid; two evaluations per step, one for the last.</summary>
    public static torch.Tensor Sample(Denoiser model, torch.Tensor x, IReadOnlyList<double> sigmas, Action<SamplerStep>? callback = null) =>
        SamplerMath.Loop(model, x, sigmas, callback, (i, cur, s, sn, denoised) =>
        {
            var d = SamplerMath.ToD(cur, s, denoised);
            if (sn == 0) return cur.Plus(d.Times(sn - s));
            double mid = Math.Exp(0.5 * (Math.Log(s) + Math.Log(sn)));
            var x2 = cur.Plus(d.Times(mid - s));
            var d2 = SamplerMath.ToD(x2, mid, model(x2, mid));
            return cur.Plus(d2.Times(sn - s));
        });
}
