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

    /// <summary>
    /// The cells as an indented JSON array of objects with the fields of <see cref="BenchmarkCell"/>; a cell without a number
    /// (rk45 over budget) has "NaN" for Rmse and Sw2.
    /// </summary>
    public static string ToJson(IEnumerable<BenchmarkCell> cells) =>
        JsonSerializer.Serialize(cells, new JsonSerializerOptions { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals });

    /// <summary>Runs every (sampler, grid) at every budget on a problem.</summary>
    public static List<BenchmarkCell> Run(string label, AnalyticProblem problem, IEnumerable<(string Sampler, string Grid)> configs, IEnumerable<int> budgets, Action<string>? progress = null)
    {
        var cells = new List<BenchmarkCell>();
        foreach (var (sampler, grid) in configs)
        {
            // rk45's runs do not depend on the budget: each tolerance is run once for all budgets.
            var rk45 = sampler == "rk45" ? new Rk45Ladder(problem) : null;
            foreach (int budget in budgets)
            {
                progress?.Invoke($"{label} {sampler}/{grid} @ {budget}");
                if (rk45 is not null)
                {
                    // rk45 that cannot finish within the budget at any tolerance gets no number.
                    var best = rk45.Within(budget);
                    cells.Add(best is { } b ? new BenchmarkCell(label, sampler, grid, budget, b.Nfe, b.Rmse, b.Sw2) : new BenchmarkCell(label, sampler, grid, budget, 0, double.NaN, double.NaN));
                    continue;
                }
                var r = problem.Run(sampler, AnalyticProblem.StepsForNfe(sampler, budget), grid);
                cells.Add(new BenchmarkCell(label, sampler, grid, budget, r.Nfe, r.RmseVsOde, r.Sw2));
                r.Samples.Dispose();
            }
        }
        return cells;
    }

    /// <summary>
    /// rk45 has no step count: its tolerance is lowered, 10⁻¹ to 10⁻⁶, until it spends more than the budget, and the
    /// last run within the budget counts. The runs are kept by tolerance, so a table of many budgets runs each once.
    /// </summary>
    private sealed class Rk45Ladder(AnalyticProblem problem)
    {
        private static readonly double[] Tolerances = [1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6];
        private readonly List<(int Nfe, double Rmse, double Sw2)> _runs = [];

        /// <summary>The run of the tightest tolerance (in the ladder's order) before the first that exceeds <paramref name="budget"/>; null if the loosest does.</summary>
        public (int Nfe, double Rmse, double Sw2)? Within(int budget)
        {
            (int Nfe, double Rmse, double Sw2)? best = null;
            for (int i = 0; i < Tolerances.Length; i++)
            {
                if (i == _runs.Count)
                {
                    var r = problem.Run("rk45", 18, "karras", new SamplerOptions { Rk45 = new Rk45Options(Tolerances[i], Tolerances[i]) });
                    _runs.Add((r.Nfe, r.RmseVsOde, r.Sw2));
                    r.Samples.Dispose();
                }
                if (_runs[i].Nfe > budget) break;
                best = _runs[i];
            }
            return best;
        }
    }
}
