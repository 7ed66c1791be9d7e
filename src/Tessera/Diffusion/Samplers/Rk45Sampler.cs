using Tessera.Diffusion.Grids;

namespace Tessera.Diffusion.Samplers;

/// <summary>
/// Adaptive probability-flow sampler: Dormand–Prince on dx/du = x − D(x; eᵘ), u = ln σ (the PF-ODE of
/// EDM eq. 3 in log σ, where it is smooth), from the grid's first σ to its last non-zero σ, then x ← D(x; σ_min)
/// when the grid ends at 0. The grid only sets the end points and the first step (span / steps).
/// </summary>
public static class Rk45Sampler
{
    /// <summary>Solves the PF-ODE to the given tolerances.</summary>
    public static torch.Tensor Sample(Denoiser model, torch.Tensor x, IReadOnlyList<double> sigmas, Rk45Options? options = null)
    {
        SigmaGrids.Check(sigmas);
        var o = options ?? new Rk45Options();
        double sMax = sigmas[0], sMin = sigmas.Where(v => v > 0).Min();
        double u0 = Math.Log(sMax), u1 = Math.Log(sMin);
        var (y, _) = DormandPrince.Integrate((u, state) =>
        {
            using var d = model(state, Math.Exp(u));
            return state - d;
        }, x, u0, u1, o, (u1 - u0) / Math.Max(1, sigmas.Count - 1));
        if (sigmas[^1] != 0) return y;
        var final = model(y, sMin);
        y.Dispose();
        return final;
    }
}
