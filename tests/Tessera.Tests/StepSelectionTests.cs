using Tessera.Diffusion.Sampling;

namespace Tessera.Tests;

/// <summary>GITS' dynamic-programming step selection (<see cref="StepSelection"/>) and the teacher it works on.</summary>
public class StepSelectionTests
{
    /// <summary>
    /// Four nodes. Two steps from 0 to 3: 0→1→3 costs 1 + 10 = 11, 0→2→3 costs 5 + 1 = 6, so [0, 2, 3]; three steps can only
    /// be 0→1→2→3 (3); one step is 0→3 (7).
    /// </summary>
    [Fact]
    public void Select_finds_the_optimum_of_a_hand_checked_case()
    {
        double inf = double.PositiveInfinity;
        var cost = new double[,]
        {
            { inf, 1, 5, 7 },
            { inf, inf, 1, 10 },
            { inf, inf, inf, 1 },
            { inf, inf, inf, inf },
        };
        Assert.Equal([0, 2, 3], StepSelection.Select(cost, 2));
        Assert.Equal([0, 1, 2, 3], StepSelection.Select(cost, 3));
        Assert.Equal([0, 3], StepSelection.Select(cost, 1));
        Assert.Throws<TesseraUserException>(() => StepSelection.Select(cost, 4));
    }

    /// <summary>Against every path, enumerated, on random costs: the programme's sum is the smallest.</summary>
    [Fact]
    public void Select_matches_exhaustive_search_on_random_costs()
    {
        var rng = new Random(5);
        const int m = 9;
        for (int trial = 0; trial < 20; trial++)
        {
            var cost = new double[m, m];
            for (int i = 0; i < m; i++)
                for (int j = i + 1; j < m; j++) cost[i, j] = rng.NextDouble();
            int steps = 1 + trial % (m - 1);
            double Sum(int[] p) => Enumerable.Range(1, p.Length - 1).Sum(k => cost[p[k - 1], p[k]]);
            double best = double.PositiveInfinity;
            // Every subset of the interior nodes of the right size.
            for (int mask = 0; mask < 1 << (m - 2); mask++)
            {
                if (System.Numerics.BitOperations.PopCount((uint)mask) != steps - 1) continue;
                var path = new[] { 0 }.Concat(Enumerable.Range(1, m - 2).Where(i => (mask & (1 << (i - 1))) != 0)).Append(m - 1).ToArray();
                best = Math.Min(best, Sum(path));
            }
            var chosen = StepSelection.Select(cost, steps);
            Assert.Equal(steps + 1, chosen.Length);
            Assert.True(chosen.Zip(chosen.Skip(1)).All(p => p.First < p.Second));
            Assert.Equal(best, Sum(chosen), 12);
        }
    }

    /// <summary>
    /// A single Gaussian N(μ, s²I) has the closed-form trajectory x(σ) − μ = (x(σ_max) − μ)·√(s² + σ²)/√(s² + σ_max²); the
    /// mixture teacher must follow it at every fine σ (to 1e-9 relative to 1 + σ), σ = 0 included.
    /// </summary>
    [Fact]
    public void Mixture_trajectory_matches_the_single_gaussian_closed_form_at_every_sigma()
    {
        const double s = 0.3, sigmaMax = 80;
        double[] mu = [1.0, -2.0, 0.5];
        var gaussian = new GaussianMixture(mu.Length, [1.0], [s], [mu]);
        var noise = torch.randn([32, mu.Length], torch.ScalarType.Float64, generator: new torch.Generator(3));
        var sigmas = TeacherTrajectory.LogUniformGrid(20, 1e-3, sigmaMax);
        var states = FlowReference.Trajectory(gaussian, noise, sigmas);
        var mean = torch.tensor(mu, torch.ScalarType.Float64);
        for (int i = 0; i < sigmas.Length; i++)
        {
            var exact = mean + (noise * sigmaMax - mean) * (Math.Sqrt(s * s + sigmas[i] * sigmas[i]) / Math.Sqrt(s * s + sigmaMax * sigmaMax));
            double err = (states[i] - exact).abs().max().item<double>();
            // The step control is relative (rtol = atol = 1e-10) and the states are of size σ·|ε|.
            Assert.True(err < 1e-9 * (1 + sigmas[i]), $"σ = {sigmas[i]}: max error {err:e2}");
        }
    }

    /// <summary>
    /// On the fitting noise the result is never worse than its starts (GITS' grid and Karras'), the DP grid lies on the
    /// teacher's fine σ's, and the same teacher gives the same grid bit for bit.
    /// </summary>
    [Fact]
    public void Teacher_fit_is_no_worse_than_its_starts_on_the_fitting_noise_and_deterministic()
    {
        var gmm = AnalyticProblem.RandomMixture(8, 4, 5);
        var noise = torch.randn([64, 8], torch.ScalarType.Float64, generator: new torch.Generator(77));
        using var teacher = MixtureSchedule.Teacher(gmm, noise);
        var reference = FlowReference.Solve(gmm, noise, 80).X;
        Assert.True((teacher.Target - reference).abs().max().item<double>() < 1e-8);
        const int nfe = 6;
        var dp = StepSelection.Grid(gmm.AsDenoiser(), teacher, nfe, power: 2);
        Assert.Equal(nfe + 1, dp.Length);
        Assert.All(dp, s => Assert.Contains(s, teacher.Sigmas));
        var options = new ScheduleOptimizerOptions(Sweeps: 3);
        var (grid, error) = ScheduleOptimizer.Optimize("unipc", gmm.AsDenoiser(), teacher, nfe, options);
        var (again, _) = ScheduleOptimizer.Optimize("unipc", gmm.AsDenoiser(), teacher, nfe, options);
        Assert.Equal(grid, again);
        double Err(double[] g) => (SamplerRegistry.Sample("unipc", gmm.AsDenoiser(), teacher.Start, g, new GeneratorNoise(0)) - teacher.Target).square().mean().sqrt().item<double>();
        Assert.Equal(Err(grid), error, 1e-12 * error);
        Assert.True(error <= Err(dp), $"fitted {error:e3} vs DP start {Err(dp):e3}");
        Assert.True(error <= Err(SigmaGrids.Karras(nfe, 0.002, 80)), $"fitted {error:e3} vs Karras");
        Assert.Equal(80, grid[0]);
        Assert.Equal(0, grid[^1]);
    }
}
