namespace Tessera.Diffusion.Samplers;

/// <summary>
/// DPM-Solver++(2M) SDE (k-diffusion sample_dpmpp_2m_sde, midpoint form): with λ = −ln σ, h = λₙ − λ,
/// x ← (σₙ/σ)·e^{−ηh}·x − expm1(−h − ηh)·D, plus −½·expm1(−h − ηh)/r·(D − D_prev) after the first step,
/// plus σₙ·√(−expm1(−2ηh))·s_noise·ε. With η = 0 it is the deterministic <see cref="DpmSolverPP2M"/>.
/// </summary>
public static class DpmSolverPP2MSde
{
    /// <summary>Samples down the grid; one evaluation per step.</summary>
    public static torch.Tensor Sample(Denoiser model, torch.Tensor x, IReadOnlyList<double> sigmas, INoiseSource? noise, double eta = 1, double sNoise = 1, Action<SamplerStep>? callback = null)
    {
        if (eta > 0 && noise is null) throw new ArgumentNullException(nameof(noise), "η > 0 needs a noise source");
        torch.Tensor? old = null;
        double hLast = 0;
        var result = SamplerMath.Loop(model, x, sigmas, callback, (i, cur, s, sn, denoised) =>
        {
            torch.Tensor next;
            if (sn == 0) next = denoised.alias();
            else
            {
                double h = Math.Log(s) - Math.Log(sn), etaH = eta * h;
                double phi = -PreciseMath.Expm1(-h - etaH);
                next = cur.Times(sn / s * Math.Exp(-etaH)).Plus(denoised.Times(phi));
                if (old is not null)
                {
                    double r = hLast / h;
                    next = next.Plus((denoised - old).Times(0.5 * phi / r));
                }
                if (eta > 0) next = next.Plus(noise!.Next(cur).Times(sn * Math.Sqrt(-PreciseMath.Expm1(-2 * etaH)) * sNoise));
                hLast = h;
            }
            old?.Dispose();
            old = denoised.MoveToOuterDisposeScope();
            return next;
        });
        old?.Dispose();
        return result;
    }
}
