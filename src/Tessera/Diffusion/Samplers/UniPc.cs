using Tessera.Diffusion.Grids;

namespace Tessera.Diffusion.Samplers;

/// <summary>UniPC's B(h): "bh1" is B(h) = h, "bh2" is B(h) = eʰ − 1 (Zhao et al. 2023, §3.2 and Appendix; the official code's variants).</summary>
public enum UniPcVariant
{
    /// <summary>B(h) = h.</summary>
    Bh1,

    /// <summary>B(h) = expm1(h).</summary>
    Bh2,
}

/// <summary>Settings of UniPC.</summary>
/// <param name="Order">Order p of the predictor UniP-p (1–3); the corrector UniC-p raises it by one.</param>
/// <param name="Variant">The B(h) of the coefficients.</param>
/// <param name="LowerOrderFinal">Lower the order on the last steps so no step uses more history than remains (the official default).</param>
public sealed record UniPcOptions(int Order = 3, UniPcVariant Variant = UniPcVariant.Bh2, bool LowerOrderFinal = true);

/// <summary>
/// UniPC, the unified predictor–corrector of Zhao et al. (2023), multistep, in data prediction (x₀ = D), on the EDM
/// σ-grid with λ = −log σ (so α = 1/√(1+σ²) cancels: every update is written for the unscaled x = x_VP/α).
/// One step from σₛ to σₜ, h = λₜ − λₛ, with history D₀ = D(xₛ) and older Dᵢ at λᵢ, rᵢ = (λᵢ − λₛ)/h:
/// <list type="bullet">
/// <item>UniP-p (Algorithm 2, eq. 8 in data prediction): xₜ = (σₜ/σₛ)·xₛ − (e^{−h} − 1)… written
/// xₜ = (σₜ/σₛ)xₛ − φ₁·D₀ − B(h)·Σᵢ ρᵢ^p·(Dᵢ − D₀)/rᵢ, φ₁ = expm1(−h), with ρ^p solving R_{p−1}ρ = b (ρ = ½ for p = 2).</item>
/// <item>UniC-p (Algorithm 1, eq. 7): the same with the model output Dₜ = D(xₜ^pred) of the next step appended
/// (r = 1): xₜ^c = (σₜ/σₛ)xₛ − φ₁·D₀ − B(h)·(Σᵢ ρᵢ^c·(Dᵢ − D₀)/rᵢ + ρₚ^c·(Dₜ − D₀)), ρ^c = R_p⁻¹b (½ for p = 1).</item>
/// <item>R_p[k, i] = rᵢ^k (k = 0…p−1), bₖ = hφ_{k+1}(hh)·k!/B(hh) with hh = −h and hφ_{k+1} from φ₁(hh)/hh − 1,
/// φ_{k+1} = φ_k/hh − 1/(k+1)! (Theorem 3.1's order conditions).</item>
/// </list>
/// Dₜ is the model call the next step needs anyway, so the corrector costs no extra evaluation; the last step
/// has no corrector. NFE = steps (a final step to σ = 0 returns D).
/// </summary>
public static class UniPc
{
    /// <summary>Samples down the grid (one evaluation per step).</summary>
    /// <exception cref="TesseraUserException">Order outside 1–3.</exception>
    public static torch.Tensor Sample(Denoiser model, torch.Tensor x, IReadOnlyList<double> sigmas, UniPcOptions? options = null, Action<SamplerStep>? callback = null)
    {
        var o = options ?? new UniPcOptions();
        if (o.Order is < 1 or > 3) throw new TesseraUserException(nameof(options), $"UniPC order must be 1, 2 or 3, got {o.Order}");
        SigmaGrids.Check(sigmas);
        int last = sigmas.Count - 1;
        bool toZero = sigmas[last] == 0;
        int steps = toZero ? last - 1 : last;         // steps of UniPC proper (between non-zero σ)
        var history = new List<(double Lambda, torch.Tensor D)>();
        var cur = x.alias();
        torch.Tensor? dCur;
        using (var scope0 = torch.NewDisposeScope())
        {
            dCur = model(cur, sigmas[0]).MoveToOuterDisposeScope();
        }
        for (int i = 0; i < steps; i++)
        {
            double s = sigmas[i], t = sigmas[i + 1];
            // Every step but the last non-corrected one leaves the model output at its end point.
            if (dCur is null) throw new InvalidOperationException("UniPC lost its model output");
            callback?.Invoke(new SamplerStep(i, s, t, cur, dCur));
            history.Add((-Math.Log(s), dCur));
            if (history.Count > o.Order) { history[0].D.Dispose(); history.RemoveAt(0); }
            int step = i + 1;
            int order = step < o.Order ? step : (o.LowerOrderFinal ? Math.Min(o.Order, steps + 1 - step) : o.Order);
            bool corrector = step != steps || toZero;
            using var scope = torch.NewDisposeScope();
            var (next, dNext) = Update(model, cur, s, t, history, order, o.Variant, corrector);
            cur.Dispose();
            cur = next.MoveToOuterDisposeScope();
            dCur = dNext?.MoveToOuterDisposeScope();
        }
        foreach (var (_, d) in history) d.Dispose();
        if (!toZero) { dCur?.Dispose(); return cur; }
        // The step to σ = 0 is the data prediction itself (the limit of every exponential-integrator step).
        dCur ??= model(cur, sigmas[last - 1]);
        callback?.Invoke(new SamplerStep(last - 1, sigmas[last - 1], 0, cur, dCur));
        cur.Dispose();
        return dCur;
    }

    /// <summary>One UniP-p step with the optional UniC-p correction; returns the new state and the model output at the predicted point.</summary>
    private static (torch.Tensor X, torch.Tensor? D) Update(Denoiser model, torch.Tensor x, double s, double t, List<(double Lambda, torch.Tensor D)> history, int order, UniPcVariant variant, bool corrector)
    {
        double lambdaS = -Math.Log(s), lambdaT = -Math.Log(t), h = lambdaT - lambdaS;
        var d0 = history[^1].D;
        var rks = new double[order];
        var d1s = new torch.Tensor[order - 1];
        for (int i = 1; i < order; i++)
        {
            var (lambdaI, dI) = history[^(i + 1)];
            double rk = (lambdaI - lambdaS) / h;
            rks[i - 1] = rk;
            d1s[i - 1] = (dI - d0).Over(rk);
        }
        rks[order - 1] = 1;
        double hh = -h;
        double hPhi1 = PreciseMath.Expm1(hh);
        double hPhiK = hPhi1 / hh - 1;
        double factorial = 1;
        double bH = variant == UniPcVariant.Bh1 ? hh : PreciseMath.Expm1(hh);
        var r = new double[order, order];
        var b = new double[order];
        for (int k = 1; k <= order; k++)
        {
            for (int j = 0; j < order; j++) r[k - 1, j] = Math.Pow(rks[j], k - 1);
            b[k - 1] = hPhiK * factorial / bH;
            factorial *= k + 1;
            hPhiK = hPhiK / hh - 1 / factorial;
        }
        var xBase = x.Times(t / s) - d0.Times(hPhi1);
        var xT = xBase;
        if (order > 1)
        {
            double[] rhoP = order == 2 ? [0.5] : Solve(r, b, order - 1);
            var res = d1s[0].Times(rhoP[0]);
            for (int k = 1; k < order - 1; k++) res = res.Plus(d1s[k].Times(rhoP[k]));
            xT = xBase - res.Times(bH);
        }
        if (!corrector) return (xT, null);
        var dT = model(xT, t);
        double[] rhoC = order == 1 ? [0.5] : Solve(r, b, order);
        var corr = (dT - d0).Times(rhoC[order - 1]);
        for (int k = 0; k < order - 1; k++) corr = corr.Plus(d1s[k].Times(rhoC[k]));
        return (xBase - corr.Times(bH), dT);
    }

    /// <summary>Solves the leading n×n block of R·ρ = b by Gaussian elimination with partial pivoting.</summary>
    private static double[] Solve(double[,] r, double[] b, int n)
    {
        var a = new double[n, n + 1];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++) a[i, j] = r[i, j];
            a[i, n] = b[i];
        }
        for (int c = 0; c < n; c++)
        {
            int p = c;
            for (int i = c + 1; i < n; i++) if (Math.Abs(a[i, c]) > Math.Abs(a[p, c])) p = i;
            if (p != c) for (int j = 0; j <= n; j++) (a[c, j], a[p, j]) = (a[p, j], a[c, j]);
            for (int i = c + 1; i < n; i++)
            {
                double f = a[i, c] / a[c, c];
                for (int j = c; j <= n; j++) a[i, j] -= f * a[c, j];
            }
        }
        var x = new double[n];
        for (int i = n - 1; i >= 0; i--)
        {
            double acc = a[i, n];
            for (int j = i + 1; j < n; j++) acc -= a[i, j] * x[j];
            x[i] = acc / a[i, i];
        }
        return x;
    }
}
