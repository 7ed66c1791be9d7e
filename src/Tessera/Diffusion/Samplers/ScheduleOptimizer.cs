using Tessera.Diffusion.Grids;
using TorchSharp;

namespace Tessera.Diffusion.Samplers;

/// <summary>Settings of <see cref="ScheduleOptimizer"/>.</summary>
/// <param name="SigmaMin">Smallest non-zero σ of the starting (Karras) grid.</param>
/// <param name="SigmaMax">σ₀, kept fixed.</param>
/// <param name="Sweeps">Most coordinate sweeps.</param>
/// <param name="InitialStep">First move in log σ.</param>
/// <param name="Floor">The last non-zero σ stays above this (a trained model's σ_min; 0 for a mixture, exact at every σ).</param>
public sealed record ScheduleOptimizerOptions(double SigmaMin = 0.002, double SigmaMax = 80, int Sweeps = 12, double InitialStep = 0.25, double Floor = 0);

/// <summary>
/// A σ-grid fitted to a model (in the spirit of "Align Your Steps", Sabour et al. 2024, which optimises the grid
/// in log σ against the solver's own error): starting from Karras' grid with <c>nfe</c> steps (the last to σ = 0), the
/// interior log σᵢ are moved one at a time by ±δ, a move kept when it lowers the RMS error of the sampler's result
/// against a fine solution from the same model and noise, δ halved after a sweep without a kept move.
/// Deterministic: no randomness beyond the noise given.
/// </summary>
public static class ScheduleOptimizer
{
    /// <summary>Optimises the grid; returns it (nfe + 1 values, last 0) and its final error on the given noise.</summary>
    /// <param name="sampler">A deterministic sampler of <see cref="SamplerRegistry"/> with one evaluation per step.</param>
    /// <param name="model">The denoiser.</param>
    /// <param name="start">Starting points σ_max·ε [M, …].</param>
    /// <param name="target">The fine solution from <paramref name="start"/> at σ = 0.</param>
    /// <param name="nfe">Steps (= evaluations).</param>
    /// <param name="options">Range and effort.</param>
    /// <param name="samplerOptions">Sampler settings.</param>
    /// <param name="cancellation">Checked before every trial.</param>
    public static (double[] Sigmas, double Error) Optimize(string sampler, Denoiser model, torch.Tensor start, torch.Tensor target, int nfe, ScheduleOptimizerOptions? options = null, SamplerOptions? samplerOptions = null, CancellationToken cancellation = default)
    {
        var o = options ?? new ScheduleOptimizerOptions();
        if (nfe < 2) throw new ArgumentOutOfRangeException(nameof(nfe), $"need at least 2 steps, got {nfe}");
        double[] grid = SigmaGrids.Karras(nfe, o.SigmaMin, o.SigmaMax);
        double Error(double[] g)
        {
            cancellation.ThrowIfCancellationRequested();
            using var scope = torch.NewDisposeScope();
            var x = SamplerRegistry.Sample(sampler, model, start, g, new GeneratorNoise(0), samplerOptions);
            double e = (x - target).square().mean().sqrt().item<double>();
            return double.IsFinite(e) ? e : double.PositiveInfinity;
        }
        double best = Error(grid), delta = o.InitialStep;
        for (int sweep = 0; sweep < o.Sweeps; sweep++)
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
}
