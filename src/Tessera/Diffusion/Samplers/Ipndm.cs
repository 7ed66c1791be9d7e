namespace Tessera.Diffusion.Samplers;

/// <summary>
/// iPNDM, the improved pseudo-numerical method of Zhang and Chen (2023, DEIS, Appendix; after Liu et al. 2022's
/// PNDM): fixed-coefficient Adams–Bashforth on dx/dσ = ε = (x − D)/σ with a lower-order warm start instead of
/// PNDM's Runge–Kutta start, x_{i+1} = x_i + (σ_{i+1} − σ_i)·Σⱼ βⱼ ε_{i−j}, β = (1), (3, −1)/2, (23, −16, 5)/12,
/// (55, −59, 37, −9)/24 for orders 1–4 (the order is min(i + 1, max order)).
/// </summary>
public static class Ipndm
{
    private static readonly double[][] Beta =
    [
        [1.0],
        [3 / 2.0, -1 / 2.0],
        [23 / 12.0, -16 / 12.0, 5 / 12.0],
        [55 / 24.0, -59 / 24.0, 37 / 24.0, -9 / 24.0],
    ];

    /// <summary>Samples down the grid; one evaluation per step.</summary>
    /// <param name="model">The denoiser.</param>
    /// <param name="x">The start at σ₀.</param>
    /// <param name="sigmas">The grid.</param>
    /// <param name="maxOrder">Highest order (1–4; 4 is the paper's).</param>
    /// <param name="callback">Per-step report.</param>
    public static torch.Tensor Sample(Denoiser model, torch.Tensor x, IReadOnlyList<double> sigmas, int maxOrder = 4, Action<SamplerStep>? callback = null)
    {
        if (maxOrder is < 1 or > 4) throw new TesseraUserException(nameof(maxOrder), $"iPNDM order must be 1–4, got {maxOrder}");
        var eps = new List<torch.Tensor>();
        var result = SamplerMath.Loop(model, x, sigmas, callback, (i, cur, s, sn, denoised) =>
        {
            eps.Insert(0, SamplerMath.ToD(cur, s, denoised).MoveToOuterDisposeScope());
            if (eps.Count > maxOrder) { eps[^1].Dispose(); eps.RemoveAt(eps.Count - 1); }
            double[] beta = Beta[eps.Count - 1];
            var slope = eps[0].Times(beta[0]);
            for (int j = 1; j < beta.Length; j++) slope = slope.Plus(eps[j].Times(beta[j]));
            return cur.Plus(slope.Times(sn - s));
        });
        foreach (var e in eps) e.Dispose();
        return result;
    }
}
