using Tessera.Diffusion.Grids;

namespace Tessera.Diffusion.Samplers;

/// <summary>Settings of <see cref="ScheduleOptimizer"/>.</summary>
/// <param name="SigmaMin">Smallest non-zero σ of the default starting (Karras) grid.</param>
/// <param name="SigmaMax">σ₀, kept fixed.</param>
/// <param name="Sweeps">Most coordinate sweeps.</param>
/// <param name="InitialStep">First move in log σ.</param>
/// <param name="SearchStart">
/// Start from the best, on the fitting noise, of the Karras grids with ρ ∈ {3, 5, 7, 10} and the exponential grid,
/// each with σ_min ∈ {0.002, 0.005, 0.01, 0.02, 0.05} (25 runs), instead of Karras ρ = 7 at <paramref name="SigmaMin"/>.
/// </param>
/// <param name="MinStep">The descent stops when its move in log σ falls below this.</param>
/// <param name="Floor">The last non-zero σ stays above this (a trained model's σ_min; 0 for a mixture, exact at every σ).</param>
public sealed record ScheduleOptimizerOptions(double SigmaMin = 0.002, double SigmaMax = 80, int Sweeps = 12, double InitialStep = 0.25, bool SearchStart = false, double MinStep = 0, double Floor = 0);

/// <summary>
/// A σ-grid fitted to a model (in the spirit of "Align Your Steps", Sabour et al. 2024, which optimises the grid
/// in log σ against the solver's own error): starting from the best, on the fitting noise, of Karras' grid with
/// <c>nfe</c> steps (the last to σ = 0), GITS' dynamic-programming grid over a fine teacher trajectory
/// (<see cref="StepSelection"/>, when one is given) and optionally a small family of standard grids, the interior
/// log σᵢ (σ₁ … σₙ₋₁, the last non-zero σ included) are moved one at a time by ±δ, a move kept when it lowers the RMS
/// error of the sampler's result against the fine solution from the same model and noise, δ halved after a sweep
/// without a kept move. The result is never worse than its start on the fitting noise.
/// Deterministic: no randomness beyond the noise given; the same inputs give the same grid bit for bit.
/// </summary>
public static class ScheduleOptimizer
{
    /// <summary>The samplers a grid can be fitted for: deterministic, one evaluation per step.</summary>
    public static IReadOnlyList<string> Samplers { get; } = ["dpmpp_2m", "dpmpp_3m", "unipc", "unipc_bh1", "deis", "ipndm", "euler", "lms", "ddim"];

    /// <summary>Checks that a grid can be fitted for <paramref name="sampler"/>.</summary>
    /// <exception cref="TesseraUserException">Not one of <see cref="Samplers"/> (named <paramref name="parameter"/>).</exception>
    public static void CheckSampler(string? sampler, string parameter = "sampler")
    {
        if (sampler is null || !Samplers.Contains(sampler)) throw new TesseraUserException(parameter, $"'{sampler}'; expected one of {string.Join(", ", Samplers)}");
    }

    /// <summary>Optimises the grid; returns it (nfe + 1 values, last 0) and its final error on the given noise.</summary>
    /// <param name="sampler">A deterministic sampler of <see cref="SamplerRegistry"/> with one evaluation per step.</param>
    /// <param name="model">The denoiser.</param>
    /// <param name="start">Starting points σ_max·ε [M, …].</param>
    /// <param name="target">The fine solution from <paramref name="start"/> at σ = 0.</param>
    /// <param name="nfe">Steps (= evaluations).</param>
    /// <param name="options">Range and effort.</param>
    /// <param name="samplerOptions">Sampler settings.</param>
    /// <param name="cancellation">Checked before every trial.</param>
    public static (double[] Sigmas, double Error) Optimize(string sampler, Denoiser model, torch.Tensor start, torch.Tensor target, int nfe, ScheduleOptimizerOptions? options = null, SamplerOptions? samplerOptions = null, CancellationToken cancellation = default) =>
        Optimize(sampler, model, start, target, nfe, [], options, samplerOptions, cancellation);

    /// <summary>
    /// Optimises the grid against a fine teacher trajectory: the starting candidates are GITS' dynamic-programming grid
    /// (<see cref="StepSelection.Grid"/> over the teacher's fine σ's, squared Euler cost) and, with
    /// <see cref="ScheduleOptimizerOptions.SearchStart"/>, the standard grids; the best of them on the teacher's noise
    /// is then refined by the coordinate descent. Returns the grid (nfe + 1 values, last 0) and its error on that noise.
    /// </summary>
    /// <param name="sampler">A deterministic sampler of <see cref="SamplerRegistry"/> with one evaluation per step.</param>
    /// <param name="model">The denoiser.</param>
    /// <param name="teacher">Fine trajectories from the fitting noise (never the noise the grid is evaluated on).</param>
    /// <param name="nfe">Steps (= evaluations); at most the teacher's fine intervals.</param>
    /// <param name="options">Range and effort (σ_max must be the teacher's first σ).</param>
    /// <param name="samplerOptions">Sampler settings.</param>
    /// <param name="cancellation">Checked before every trial.</param>
    public static (double[] Sigmas, double Error) Optimize(string sampler, Denoiser model, TeacherTrajectory teacher, int nfe, ScheduleOptimizerOptions? options = null, SamplerOptions? samplerOptions = null, CancellationToken cancellation = default)
    {
        var o = options ?? new ScheduleOptimizerOptions();
        if (teacher.Sigmas[0] != o.SigmaMax) throw new TesseraUserException(nameof(teacher), $"the teacher starts at σ = {teacher.Sigmas[0]}, the options at σ_max = {o.SigmaMax}");
        if (nfe < 2 || nfe > teacher.Sigmas.Length - 1) throw new TesseraUserException(nameof(nfe), $"need 2 ≤ steps ≤ {teacher.Sigmas.Length - 1} (the teacher's fine intervals), got {nfe}");
        // The squared Euler cost: a solver of order p has a local error growing like h^(p+1) against Euler's h², so its
        // cost rises faster with the step than Euler's; squaring weighs long steps accordingly (the plain L2 cost of
        // GITS gave grids no better on the four analytic problems).
        var dp = StepSelection.Grid(model, teacher, nfe, power: 2, cancellation);
        return Optimize(sampler, model, teacher.Start, teacher.Target, nfe, [dp], o, samplerOptions, cancellation);
    }

    private static (double[] Sigmas, double Error) Optimize(string sampler, Denoiser model, torch.Tensor start, torch.Tensor target, int nfe, double[][] extraStarts, ScheduleOptimizerOptions? options, SamplerOptions? samplerOptions, CancellationToken cancellation)
    {
        CheckSampler(sampler, nameof(sampler));
        var o = options ?? new ScheduleOptimizerOptions();
        if (nfe < 2) throw new TesseraUserException(nameof(nfe), $"need at least 2 steps, got {nfe}");
        double Error(double[] g)
        {
            cancellation.ThrowIfCancellationRequested();
            using var scope = torch.NewDisposeScope();
            var x = SamplerRegistry.Sample(sampler, model, start, g, new GeneratorNoise(0), samplerOptions);
            double e = x.Minus(target).Squared().mean().sqrt().item<double>();
            return double.IsFinite(e) ? e : double.PositiveInfinity;
        }
        double[] grid = Pinned(SigmaGrids.Karras(nfe, o.SigmaMin, o.SigmaMax), o.SigmaMax);
        double best = Error(grid);
        var candidates = extraStarts.Concat(o.SearchStart ? StartingGrids(nfe, o.SigmaMax) : []);
        foreach (double[] candidate in candidates)
        {
            if (candidate.Length != nfe + 1 || candidate[^2] <= o.Floor) continue;
            double e = Error(candidate);
            if (e < best) { best = e; grid = candidate; }
        }
        double delta = o.InitialStep;
        for (int sweep = 0; sweep < o.Sweeps && delta >= o.MinStep; sweep++)
        {
            bool moved = false;
            for (int i = 1; i < nfe; i++)
            {
                foreach (double dir in new[] { -1.0, 1.0 })
                {
                    double candidate = Math.Exp(Math.Log(grid[i]) + dir * delta);
                    double upper = grid[i - 1], lower = i + 1 < nfe ? grid[i + 1] : o.Floor;
                    if (!(candidate < upper) || !(candidate > lower)) continue;
                    var trial = (double[])grid.Clone();
                    trial[i] = candidate;
                    double e = Error(trial);
                    if (e < best) { best = e; grid = trial; moved = true; break; }
                }
            }
            if (!moved) delta /= 2;
        }
        return (grid, best);
    }

    /// <summary>The starting family of <see cref="ScheduleOptimizerOptions.SearchStart"/>, in a fixed order.</summary>
    public static IEnumerable<double[]> StartingGrids(int nfe, double sigmaMax)
    {
        foreach (double sigmaMin in new[] { 0.002, 0.005, 0.01, 0.02, 0.05 })
        {
            foreach (double rho in new[] { 3.0, 5, 7, 10 }) yield return Pinned(SigmaGrids.Karras(nfe, sigmaMin, sigmaMax, rho), sigmaMax);
            yield return Pinned(SigmaGrids.Exponential(nfe, sigmaMin, sigmaMax), sigmaMax);
        }
    }

    // σ₀ is where the noise starts (x = σ_max·ε): exactly σ_max, not Karras' (σ_max^(1/ρ))^ρ with its rounding.
    private static double[] Pinned(double[] grid, double sigmaMax)
    {
        grid[0] = sigmaMax;
        return grid;
    }
}
