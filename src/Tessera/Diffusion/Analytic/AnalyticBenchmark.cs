using Tessera.Diffusion.Samplers;

namespace Tessera.Diffusion.Analytic;

/// <summary>One cell of the benchmark table.</summary>
/// <param name="Problem">Which problem ("2-D", "64-D").</param>
/// <param name="Sampler">Sampler name.</param>
/// <param name="Grid">Grid name.</param>
/// <param name="Budget">The NFE budget asked for.</param>
/// <param name="Nfe">NFE actually used.</param>
/// <param name="Rmse">RMS error against the PF-ODE reference.</param>
/// <param name="Sw2">Sliced Wasserstein-2 to exact samples.</param>
public sealed record BenchmarkCell(string Problem, string Sampler, string Grid, int Budget, int Nfe, double Rmse, double Sw2);

/// <summary>Error against NFE for samplers on analytic problems.</summary>
public static class AnalyticBenchmark
{
    /// <summary>The NFE budgets of the table.</summary>
    public static readonly int[] Budgets = [8, 10, 12, 15, 20, 30, 40, 60, 80];

    /// <summary>Runs every (sampler, grid) at every budget on a problem.</summary>
    public static List<BenchmarkCell> Run(string label, AnalyticProblem problem, IEnumerable<(string Sampler, string Grid)> configs, IEnumerable<int> budgets, Action<string>? progress = null)
    {
        var cells = new List<BenchmarkCell>();
        foreach (var (sampler, grid) in configs)
            foreach (int budget in budgets)
            {
                progress?.Invoke($"{label} {sampler}/{grid} @ {budget}");
                AnalyticResult? r = sampler == "rk45"
                    ? RunRk45(problem, budget)
                    : problem.Run(sampler, AnalyticProblem.StepsForNfe(sampler, budget), grid);
                // rk45 that cannot finish within the budget at any tolerance gets no number.
                cells.Add(r is null ? new BenchmarkCell(label, sampler, grid, budget, 0, double.NaN, double.NaN) : new BenchmarkCell(label, sampler, grid, budget, r.Nfe, r.RmseVsOde, r.Sw2));
                r?.Samples.Dispose();
            }
        return cells;
    }

    /// <summary>rk45 has no step count: its tolerance is lowered until it spends about the budget.</summary>
    private static AnalyticResult? RunRk45(AnalyticProblem problem, int budget)
    {
        AnalyticResult? best = null;
        foreach (double tol in new[] { 1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6 })
        {
            var r = problem.Run("rk45", 18, "karras", new SamplerOptions { Rk45 = new Rk45Options(tol, tol) });
            if (r.Nfe > budget) { r.Samples.Dispose(); break; }
            best?.Samples.Dispose();
            best = r;
        }
        return best;
    }
}
