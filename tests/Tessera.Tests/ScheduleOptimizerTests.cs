namespace Tessera.Tests;

/// <summary>The model-fitted σ-grid (<see cref="ScheduleOptimizer"/>).</summary>
public class ScheduleOptimizerTests
{
    private static double Rms(torch.Tensor a, torch.Tensor b) => (a - b).square().mean().sqrt().item<double>();

    [Fact]
    public void Fitted_grid_beats_karras_on_other_noise_and_is_deterministic()
    {
        var gmm = GaussianMixture.Ring();
        torch.Tensor Noise(ulong seed) => torch.randn([256, 2], torch.ScalarType.Float64, generator: new torch.Generator(seed));
        var fit = Noise(101);
        var held = Noise(202);
        var fitTarget = FlowReference.Solve(gmm, fit, 80).X;
        var heldTarget = FlowReference.Solve(gmm, held, 80).X;
        var (grid, _) = ScheduleOptimizer.Optimize("dpmpp_2m", gmm.AsDenoiser(), fit * 80.0, fitTarget, 8);
        var (again, _) = ScheduleOptimizer.Optimize("dpmpp_2m", gmm.AsDenoiser(), fit * 80.0, fitTarget, 8);
        Assert.Equal(grid, again);
        double Err(double[] g) => Rms(SamplerRegistry.Sample("dpmpp_2m", gmm.AsDenoiser(), held * 80.0, g, new GeneratorNoise(0)), heldTarget);
        double karras = Err(SigmaGrids.Karras(8, 0.002, 80)), fitted = Err(grid);
        Assert.True(fitted < 0.7 * karras, $"fitted {fitted:e3} vs karras {karras:e3} on held-out noise");
    }

    /// <summary>
    /// A single Gaussian N(μ, s²I): the probability-flow trajectory is x(σ) − μ = (x(σ_max) − μ)·√(s² + σ²)/√(s² + σ_max²),
    /// so the fine solution needs no ODE solver. The grid is fitted on noise of one seed (with the start-grid search)
    /// and evaluated on noise of another: it must not be worse than Karras' at the same NFE, for the two solvers the
    /// tables pair it with.
    /// </summary>
    [Theory]
    [InlineData("unipc", 6)]
    [InlineData("dpmpp_3m", 8)]
    public void Fitted_grid_is_no_worse_than_karras_on_held_out_noise_of_a_single_gaussian(string sampler, int nfe)
    {
        const double s = 0.5, sigmaMax = 80;
        double[] mu = [1.5, -0.5, 2.0, 0.25];
        var gaussian = new GaussianMixture(mu.Length, [1.0], [s], [mu]);
        var mean = torch.tensor(mu, torch.ScalarType.Float64);
        torch.Tensor Noise(ulong seed) => torch.randn([256, mu.Length], torch.ScalarType.Float64, generator: new torch.Generator(seed));
        torch.Tensor Exact(torch.Tensor eps) => mean + (eps * sigmaMax - mean) * (s / Math.Sqrt(s * s + sigmaMax * sigmaMax));
        var fit = Noise(11);
        var held = Noise(12);
        var options = new ScheduleOptimizerOptions(Sweeps: 8, SearchStart: true);
        var (grid, fitError) = ScheduleOptimizer.Optimize(sampler, gaussian.AsDenoiser(), fit * sigmaMax, Exact(fit), nfe, options);
        Assert.Equal(nfe + 1, grid.Length);
        Assert.Equal(0, grid[^1]);
        Assert.Equal(sigmaMax, grid[0]);
        double Err(double[] g) => Rms(SamplerRegistry.Sample(sampler, gaussian.AsDenoiser(), held * sigmaMax, g, new GeneratorNoise(0)), Exact(held));
        double karras = Err(SigmaGrids.Karras(nfe, 0.002, sigmaMax)), fitted = Err(grid);
        Assert.True(fitted <= karras, $"{sampler} at {nfe} NFE: fitted {fitted:e3} (fit {fitError:e3}) vs karras {karras:e3} on held-out noise");
    }

    [Fact]
    public void Optimiser_is_deterministic_for_a_seed_with_the_start_search()
    {
        var gmm = AnalyticProblem.RandomMixture(8, 4, 5);
        (double[], double) Fit()
        {
            var noise = torch.randn([64, 8], torch.ScalarType.Float64, generator: new torch.Generator(77));
            var target = FlowReference.Solve(gmm, noise, 80).X;
            return ScheduleOptimizer.Optimize("unipc", gmm.AsDenoiser(), noise * 80.0, target, 6, new ScheduleOptimizerOptions(Sweeps: 3, SearchStart: true));
        }
        var (a, ea) = Fit();
        var (b, eb) = Fit();
        Assert.Equal(a, b);
        // The grid is exact; its error may differ in the last bits when another test in this process changes libtorch's
        // intra-op thread count between the two fits (the float64 reductions are then summed in another order).
        Assert.Equal(ea, eb, 1e-12 * ea);
    }
}

/// <summary>k-diffusion's σ-grid formulas against values computed by hand.</summary>
public class SigmaGridFormulaTests
{
    /// <summary>
    /// get_sigmas_polyexponential: σᵢ = exp(rampᵢ^ρ·(log σ_max − log σ_min) + log σ_min), ramp = linspace(1, 0, n).
    /// σ_min = 0.1, σ_max = 10, so log σ = (2·ramp^ρ − 1)·ln 10 and σ = 10^(2·ramp^ρ − 1):
    /// n = 3, ρ = 1: 10, 1, 0.1; n = 3, ρ = 2: 10, 10^(−1/2), 0.1; n = 4, ρ = 1: 10, 10^(1/3), 10^(−1/3), 0.1.
    /// </summary>
    [Theory]
    [InlineData(3, 1.0, new[] { 10.0, 1.0, 0.1 })]
    [InlineData(3, 2.0, new[] { 10.0, 0.31622776601683794, 0.1 })]
    [InlineData(4, 1.0, new[] { 10.0, 2.154434690031884, 0.46415888336127786, 0.1 })]
    public void Polyexponential_matches_k_diffusion_formula(int n, double rho, double[] expected)
    {
        double[] grid = SigmaGrids.PolyExponential(n, 0.1, 10, rho);
        Assert.Equal(n + 1, grid.Length);
        for (int i = 0; i < n; i++) Assert.True(Math.Abs(grid[i] - expected[i]) <= 1e-14 * expected[i], $"σ[{i}] = {grid[i]:R}, expected {expected[i]:R}");
        Assert.Equal(0, grid[n]);
    }

    /// <summary>With ρ = 1 (k-diffusion's default) the polyexponential grid is the exponential one.</summary>
    [Fact]
    public void Polyexponential_with_rho_one_is_exponential()
    {
        double[] a = SigmaGrids.PolyExponential(12, 0.002, 80), b = SigmaGrids.Exponential(12, 0.002, 80);
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-13 * Math.Max(b[i], 1e-300), $"σ[{i}]: {a[i]:R} vs {b[i]:R}");
    }
}
