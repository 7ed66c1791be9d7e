namespace Tessera.Diffusion.Samplers;

/// <summary>
/// DPM-Solver++(3M) SDE (k-diffusion sample_dpmpp_3m_sde): third-order multistep in λ with η-scaled
/// noise; with η = 0 it is the deterministic DPM-Solver++(3M) (registered as <c>dpmpp_3m</c>).
/// </summary>
public static class DpmSolverPP3MSde
{
    /// <summary>Samples down the grid; one evaluation per step.</summary>
    public static torch.Tensor Sample(Denoiser model, torch.Tensor x, IReadOnlyList<double> sigmas, INoiseSource? noise, double eta = 1, double sNoise = 1, Action<SamplerStep>? callback = null)
    {
        if (eta > 0 && noise is null) throw new ArgumentNullException(nameof(noise), "η > 0 needs a noise source");
        torch.Tensor? d1Prev = null, d2Prev = null; // D_{i−1}, D_{i−2}
        double h1 = double.NaN, h2 = double.NaN;
        var result = SamplerMath.Loop(model, x, sigmas, callback, (i, cur, s, sn, denoised) =>
        {
            torch.Tensor next;
            double h = double.NaN;
            if (sn == 0) next = denoised.alias();
            else
            {
                h = Math.Log(s) - Math.Log(sn);
                double hEta = h * (eta + 1);
                // x ← e^{−h(1+η)}·x − expm1(−h(1+η))·D  (e^{−h} = σₙ/σ)
                next = cur.Times(Math.Exp(-hEta)).Plus(denoised.Times(-PreciseMath.Expm1(-hEta)));
                double phi2 = PreciseMath.Expm1(-hEta) / hEta + 1;
                if (d2Prev is not null)
                {
                    double r0 = h1 / h, r1 = h2 / h;
                    var d10 = (denoised - d1Prev!).Over(r0);
                    var d11 = (d1Prev! - d2Prev).Over(r1);
                    var d1 = d10.Plus((d10 - d11).Times(r0 / (r0 + r1)));
                    var d2 = (d10 - d11).Over(r0 + r1);
                    double phi3 = phi2 / hEta - 0.5;
                    next = next.Plus(d1.Times(phi2)) - d2.Times(phi3);
                }
                else if (d1Prev is not null)
                {
                    double r = h1 / h;
                    next = next.Plus((denoised - d1Prev).Over(r).Times(phi2));
                }
                if (eta > 0) next = next.Plus(noise!.Next(cur).Times(sn * Math.Sqrt(-PreciseMath.Expm1(-2 * h * eta)) * sNoise));
            }
            d2Prev?.Dispose();
            d2Prev = d1Prev;
            d1Prev = denoised.MoveToOuterDisposeScope();
            (h1, h2) = (h, h1);
            return next;
        });
        d1Prev?.Dispose();
        d2Prev?.Dispose();
        return result;
    }
}
