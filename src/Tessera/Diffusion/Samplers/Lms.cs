namespace Tessera.Diffusion.Samplers;

/// <summary>
/// Linear multistep (k-diffusion sample_lms): x_{i+1} = x_i + Σⱼ cⱼ·d_{i−j}, where cⱼ = ∫_{σᵢ}^{σᵢ₊₁} Lⱼ(τ) dτ
/// integrates the Lagrange basis polynomial through the last ≤ <c>order</c> σ's. The integrals are exact
/// here (polynomial arithmetic) where k-diffusion uses numerical quadrature.
/// </summary>
public static class Lms
{
    /// <summary>Samples down the grid; one evaluation per step.</summary>
    public static torch.Tensor Sample(Denoiser model, torch.Tensor x, IReadOnlyList<double> sigmas, int order = 4, Action<SamplerStep>? callback = null)
    {
        if (order < 1) throw new TesseraUserException(nameof(order), "order must be at least 1");
        var ds = new List<torch.Tensor>();
        var result = SamplerMath.Loop(model, x, sigmas, callback, (i, cur, s, sn, denoised) =>
        {
            ds.Add(SamplerMath.ToD(cur, s, denoised).MoveToOuterDisposeScope());
            if (ds.Count > order) { ds[0].Dispose(); ds.RemoveAt(0); }
            int k = ds.Count;
            var next = cur.alias();
            for (int j = 0; j < k; j++)
                next = next.Plus(ds[k - 1 - j].Times(Coefficient(k, i, sigmas, j)));
            return next;
        });
        foreach (var d in ds) d.Dispose();
        return result;
    }

    /// <summary>∫ from σ_i to σ_{i+1} of the Lagrange basis polynomial for node σ_{i−j} over nodes σ_{i−order+1} … σ_i.</summary>
    public static double Coefficient(int order, int i, IReadOnlyList<double> sigmas, int j)
    {
        // Polynomial coefficients, lowest degree first.
        double[] poly = [1.0];
        for (int k = 0; k < order; k++)
        {
            if (k == j) continue;
            double denom = sigmas[i - j] - sigmas[i - k];
            var next = new double[poly.Length + 1];
            for (int p = 0; p < poly.Length; p++)
            {
                next[p + 1] += poly[p] / denom;
                next[p] -= poly[p] * sigmas[i - k] / denom;
            }
            poly = next;
        }
        double Integral(double t)
        {
            double acc = 0, power = t;
            for (int p = 0; p < poly.Length; p++, power *= t) acc += poly[p] * power / (p + 1);
            return acc;
        }
        return Integral(sigmas[i + 1]) - Integral(sigmas[i]);
    }
}
