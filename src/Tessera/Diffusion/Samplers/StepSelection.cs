namespace Tessera.Diffusion.Samplers;

/// <summary>
/// Step selection by dynamic programming over a fine σ-grid (Chen et al. 2024, "On the Trajectory Regularity of
/// ODE-based Diffusion Sampling", GITS, Sec. 4 and Algorithm 1): with c(i, j) the error of one coarse step from the
/// teacher's state at fine node i to fine node j, choose the n steps 0 = i₀ &lt; i₁ &lt; … &lt; iₙ = M − 1 that minimise
/// Σₖ c(iₖ₋₁, iₖ).
/// </summary>
public static class StepSelection
{
    /// <summary>
    /// The exact minimiser of Σₖ cost[iₖ₋₁, iₖ] over paths of <paramref name="steps"/> strictly increasing steps from node 0
    /// to the last node (the Bellman recursion B_k(j) = min_{i&lt;j} B_{k−1}(i) + c(i, j), B₀(0) = 0). Ties go to the
    /// smallest i, so the result is deterministic.
    /// </summary>
    /// <param name="cost">c(i, j) for i &lt; j (the rest is not read) [M, M].</param>
    /// <param name="steps">Steps n, 1 ≤ n ≤ M − 1.</param>
    /// <returns>The n + 1 node indices, first 0, last M − 1.</returns>
    public static int[] Select(double[,] cost, int steps)
    {
        int m = cost.GetLength(0);
        if (cost.GetLength(1) != m) throw new ArgumentException($"cost must be square, got {m}×{cost.GetLength(1)}", nameof(cost));
        if (steps < 1 || steps > m - 1) throw new TesseraUserException(nameof(steps), $"need 1 ≤ steps ≤ {m - 1}, got {steps}");
        var best = new double[steps + 1, m];
        var from = new int[steps + 1, m];
        for (int k = 0; k <= steps; k++)
            for (int j = 0; j < m; j++) best[k, j] = double.PositiveInfinity;
        best[0, 0] = 0;
        for (int k = 1; k <= steps; k++)
            for (int j = k; j < m; j++)
                for (int i = k - 1; i < j; i++)
                {
                    double c = best[k - 1, i] + cost[i, j];
                    if (c < best[k, j]) { best[k, j] = c; from[k, j] = i; }
                }
        var path = new int[steps + 1];
        path[steps] = m - 1;
        for (int k = steps; k > 0; k--) path[k - 1] = from[k, path[k]];
        return path;
    }

    /// <summary>
    /// GITS' cost: the mean over samples of the L2 error of one Euler (= DDIM) step taken from the teacher's state at
    /// σᵢ to σⱼ, x̂ⱼ = xᵢ + (σⱼ − σᵢ)·(xᵢ − D(xᵢ; σᵢ))/σᵢ (Karras et al. 2022, EDM eq. 3), against the teacher's xⱼ,
    /// raised to <paramref name="power"/>. One denoiser call per fine node.
    /// </summary>
    public static double[,] EulerCosts(Denoiser model, TeacherTrajectory teacher, double power = 1, CancellationToken cancellation = default)
    {
        var s = teacher.Sigmas;
        int m = s.Length;
        var cost = new double[m, m];
        for (int i = 0; i < m - 1; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            using var scope = torch.NewDisposeScope();
            var x = teacher.States[i];
            var slope = x.Minus(model(x, s[i])).Over(s[i]);
            for (int j = i + 1; j < m; j++)
            {
                var step = x.Plus(slope.Times(s[j] - s[i])).Minus(teacher.States[j]);
                double e = step.flatten(1).Squared().sum(1).sqrt().mean().item<double>();
                cost[i, j] = double.IsFinite(e) ? Math.Pow(e, power) : double.PositiveInfinity;
            }
        }
        return cost;
    }

    /// <summary>The <paramref name="steps"/>-step grid of the teacher's fine σ's that minimises the summed Euler cost.</summary>
    public static double[] Grid(Denoiser model, TeacherTrajectory teacher, int steps, double power = 1, CancellationToken cancellation = default) =>
        Select(EulerCosts(model, teacher, power, cancellation), steps).Select(i => teacher.Sigmas[i]).ToArray();
}
