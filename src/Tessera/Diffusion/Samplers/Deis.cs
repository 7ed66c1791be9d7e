namespace Tessera.Diffusion.Samplers;

/// <summary>
/// DEIS "tAB" (Zhang and Chen 2023, "Fast Sampling of Diffusion Models with Exponential Integrator", eq. 14–15):
/// the exponential integrator with the noise prediction ε = (x − D)/σ extrapolated by a polynomial in time.
/// In EDM's coordinates (s = 1, t = σ) the linear part of the ODE vanishes, dx/dσ = ε(x, σ), so tAB-r is
/// x_{i+1} = x_i + Σ_{j=0}^{r} C_{ij}·ε_{i−j}, C_{ij} = ∫_{σ_i}^{σ_{i+1}} Π_{k≠j} (τ − σ_{i−k})/(σ_{i−j} − σ_{i−k}) dτ
/// (the Lagrange basis through the last r + 1 points, integrated exactly by 4-point Gauss–Legendre), with the
/// order lowered to the history there is on the first r steps. tAB-0 is DDIM (Euler).
/// </summary>
public static class Deis
{
    private static readonly double[] GaussNodes = [-0.8611363115940526, -0.3399810435848563, 0.3399810435848563, 0.8611363115940526];
    private static readonly double[] GaussWeights = [0.3478548451374538, 0.6521451548625461, 0.6521451548625461, 0.3478548451374538];

    /// <summary>Samples down the grid; one evaluation per step.</summary>
    /// <param name="model">The denoiser.</param>
    /// <param name="x">The start at σ₀.</param>
    /// <param name="sigmas">The grid.</param>
    /// <param name="order">r, the degree of the extrapolating polynomial (1–3).</param>
    /// <param name="callback">Per-step report.</param>
    public static torch.Tensor Sample(Denoiser model, torch.Tensor x, IReadOnlyList<double> sigmas, int order = 3, Action<SamplerStep>? callback = null)
    {
        if (order is < 0 or > 3) throw new TesseraUserException(nameof(order), $"DEIS tAB order must be 0–3, got {order}");
        var eps = new List<torch.Tensor>();
        var result = SamplerMath.Loop(model, x, sigmas, callback, (i, cur, s, sn, denoised) =>
        {
            var d = SamplerMath.ToD(cur, s, denoised).MoveToOuterDisposeScope();
            eps.Insert(0, d);
            if (eps.Count > order + 1) { eps[^1].Dispose(); eps.RemoveAt(eps.Count - 1); }
            int r = eps.Count - 1;
            var next = cur.alias();
            for (int j = 0; j <= r; j++) next = next.Plus(eps[j].Times(Coefficient(sigmas, i, j, r)));
            return next;
        });
        foreach (var e in eps) e.Dispose();
        return result;
    }

    /// <summary>C_{ij} of tAB-r: the integral over [σᵢ, σᵢ₊₁] of the Lagrange basis polynomial of node σ_{i−j} on nodes σᵢ … σ_{i−r}.</summary>
    public static double Coefficient(IReadOnlyList<double> sigmas, int i, int j, int r)
    {
        double a = sigmas[i], b = sigmas[i + 1], half = (b - a) / 2, mid = (a + b) / 2, sum = 0;
        for (int q = 0; q < GaussNodes.Length; q++)
        {
            double tau = mid + half * GaussNodes[q], l = 1;
            for (int k = 0; k <= r; k++)
                if (k != j) l *= (tau - sigmas[i - k]) / (sigmas[i - j] - sigmas[i - k]);
            sum += GaussWeights[q] * l;
        }
        return sum * half;
    }
}
