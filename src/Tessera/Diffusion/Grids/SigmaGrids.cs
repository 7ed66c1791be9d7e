namespace Tessera.Diffusion.Grids;

/// <summary>
/// σ-grids for sampling: n noise levels from σ_max down to σ_min, then a final 0 (n + 1 values).
/// </summary>
public static class SigmaGrids
{
    private static double[] WithZero(IEnumerable<double> sigmas) => [.. sigmas, 0.0];

    /// <summary>
    /// Karras et al. (EDM eq. 5): σᵢ = (σ_max^(1/ρ) + i/(n−1)·(σ_min^(1/ρ) − σ_max^(1/ρ)))^ρ, as NVlabs/edm computes it
    /// (i/(n−1) rather than a linspace; the two differ by rounding only).
    /// </summary>
    public static double[] Karras(int n, double sigmaMin, double sigmaMax, double rho = 7)
    {
        CheckRange(n, sigmaMin, sigmaMax);
        double a = Math.Pow(sigmaMax, 1 / rho), b = Math.Pow(sigmaMin, 1 / rho);
        return WithZero(Enumerable.Range(0, n).Select(i => Math.Pow(a + (n == 1 ? 0 : (double)i / (n - 1)) * (b - a), rho)));
    }

    /// <summary>Karras's grid with torch.linspace's rounding (k-diffusion get_sigmas_karras).</summary>
    public static double[] KarrasLinspace(int n, double sigmaMin, double sigmaMax, double rho = 7)
    {
        CheckRange(n, sigmaMin, sigmaMax);
        double a = Math.Pow(sigmaMax, 1 / rho), b = Math.Pow(sigmaMin, 1 / rho);
        return WithZero(Linspace(0, 1, n).Select(r => Math.Pow(a + r * (b - a), rho)));
    }

    /// <summary>Geometric spacing: log σ uniform between log σ_max and log σ_min (k-diffusion get_sigmas_exponential).</summary>
    public static double[] Exponential(int n, double sigmaMin, double sigmaMax)
    {
        CheckRange(n, sigmaMin, sigmaMax);
        return WithZero(Linspace(Math.Log(sigmaMax), Math.Log(sigmaMin), n).Select(Math.Exp));
    }

    /// <summary>k-diffusion get_sigmas_polyexponential: log σ = ramp^ρ interpolation, ρ = 1 is exponential.</summary>
    public static double[] PolyExponential(int n, double sigmaMin, double sigmaMax, double rho = 1)
    {
        CheckRange(n, sigmaMin, sigmaMax);
        double lmin = Math.Log(sigmaMin), lmax = Math.Log(sigmaMax);
        return WithZero(Linspace(1, 0, n).Select(r => Math.Exp(Math.Pow(r, rho) * (lmax - lmin) + lmin)));
    }

    /// <summary>
    /// Song et al.'s VP grid (k-diffusion get_sigmas_vp): t uniform from 1 to ε_s,
    /// σ(t) = √(exp(β_d t²/2 + β_min t) − 1).
    /// </summary>
    public static double[] Vp(int n, double betaD = 19.9, double betaMin = 0.1, double epsS = 1e-3)
    {
        if (n < 1) throw new TesseraUserException(nameof(n), "at least one step");
        return WithZero(Linspace(1, epsS, n).Select(t => Math.Sqrt(Math.Exp(betaD * t * t / 2 + betaMin * t) - 1)));
    }

    /// <summary>Uniform in a schedule's time t from t_max to t_min, mapped through σ(t) (e.g. EDM's uniform t = σ).</summary>
    public static double[] UniformT(int n, Func<double, double> sigmaOfT, double tMin, double tMax)
    {
        if (n < 1) throw new TesseraUserException(nameof(n), "at least one step");
        return WithZero(Linspace(tMax, tMin, n).Select(sigmaOfT));
    }

    /// <summary>torch.linspace in double precision: start + i·(end − start)/(n − 1), with the end point exact from the other side.</summary>
    public static double[] Linspace(double start, double end, int n)
    {
        var r = new double[n];
        if (n == 1) { r[0] = start; return r; }
        double step = (end - start) / (n - 1);
        int half = n / 2;
        for (int i = 0; i < n; i++) r[i] = i < half ? start + step * i : end - step * (n - 1 - i);
        return r;
    }

    private static void CheckRange(int n, double sigmaMin, double sigmaMax)
    {
        if (n < 1) throw new TesseraUserException(nameof(n), $"steps must be at least 1, got {n}");
        if (!(sigmaMin > 0) || !(sigmaMax > sigmaMin)) throw new TesseraUserException(nameof(sigmaMin), $"need 0 < σ_min < σ_max, got {sigmaMin}, {sigmaMax}");
    }

    /// <summary>Checks a σ-grid: at least two values, finite, non-increasing, non-negative.</summary>
    public static void Check(IReadOnlyList<double> sigmas)
    {
        if (sigmas.Count < 2) throw new TesseraUserException(nameof(sigmas), "a σ-grid needs at least two values (one step)");
        for (int i = 0; i < sigmas.Count; i++)
        {
            if (!double.IsFinite(sigmas[i]) || sigmas[i] < 0) throw new TesseraUserException(nameof(sigmas), $"σ[{i}] = {sigmas[i]} is not a finite non-negative number");
            if (i > 0 && sigmas[i] > sigmas[i - 1]) throw new TesseraUserException(nameof(sigmas), $"σ-grid must not increase: σ[{i}] = {sigmas[i]} > σ[{i - 1}] = {sigmas[i - 1]}");
        }
    }
}
