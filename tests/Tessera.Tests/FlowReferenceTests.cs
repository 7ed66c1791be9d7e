namespace Tessera.Tests;

/// <summary>The analytic test bed's converged probability-flow reference and its fast mixture denoiser.</summary>
public class FlowReferenceTests
{
    private static double MaxAbs(torch.Tensor a, torch.Tensor b) => (a - b).abs().max().item<double>();

    [Fact]
    public void Reference_to_sigma_zero_matches_the_single_gaussian_closed_form_to_1e_9()
    {
        // Data N(μ, s²I): along the probability flow x(σ) − μ = (x(σ_max) − μ)·√((s² + σ²)/(s² + σ_max²)), so x(0) − μ = (x(σ_max) − μ)·s/√(s² + σ_max²).
        double s = 0.4, sigmaMax = 80;
        var mu = Enumerable.Range(0, 16).Select(i => Math.Sin(i + 1.0) * 3).ToArray();
        var gauss = new GaussianMixture(16, [1.0], [s], [mu]);
        var eps = torch.randn([256, 16], torch.ScalarType.Float64, generator: new torch.Generator(21));
        var m = torch.tensor(mu);
        var exact = (eps * sigmaMax - m) * (s / Math.Sqrt(s * s + sigmaMax * sigmaMax)) + m;
        var (x, evals) = FlowReference.Solve(gauss, eps, sigmaMax);
        Assert.True(MaxAbs(x, exact) < 1e-9, $"reference vs closed form {MaxAbs(x, exact):e3} after {evals} evaluations");
    }

    [Fact]
    public void Reduced_coordinates_solve_the_same_ode_as_the_full_slope_and_the_reference_is_converged()
    {
        // The 64-D, 16-mode problem in 17 coordinates (MixtureFlow) against Dormand–Prince on the full 64-D slope
        // GaussianMixture.FlowVelocity, both to σ = 0 at 1e-12; and the default tolerance against that.
        var gmm = BuiltInProblems.Get("mixture64").Mixture;
        var eps = torch.randn([64, 64], torch.ScalarType.Float64, generator: new torch.Generator(8));
        var (full, _) = Tessera.Diffusion.Samplers.DormandPrince.Integrate((s, x) => gmm.FlowVelocity(x, s), eps * 80.0, 80, 0,
            new Tessera.Diffusion.Samplers.Rk45Options(1e-12, 1e-12, 1_000_000), 80.0 / 64);
        var (reduced, _) = FlowReference.Solve(gmm, eps, 80, 1e-12);
        Assert.True(MaxAbs(reduced, full) < 1e-9, $"reduced vs full coordinates {MaxAbs(reduced, full):e3}");
        // Converged far below the best sampler error of the tables (3e-4 RMS at 80 NFE).
        var (x, _) = FlowReference.Solve(gmm, eps, 80);
        double rms = (x - reduced).square().mean().sqrt().item<double>();
        Assert.True(rms < 1e-9, $"default tolerance vs 100× tighter: {rms:e3} RMS");
    }

    [Fact]
    public void Fast_denoiser_and_flow_velocity_match_the_per_mode_formula()
    {
        // D(x; σ) = Σₖ rₖ (μₖ + sₖ²/(sₖ²+σ²)(x − μₖ)) written out mode by mode, with r from the log-densities of each mode.
        var gmm = AnalyticProblem.RandomMixture(5, 4, 3);
        var x = torch.randn([64, 5], torch.ScalarType.Float64, generator: new torch.Generator(4)) * 2.0;
        foreach (double sigma in new[] { 0.01, 0.3, 2.0, 50.0 })
        {
            var logits = new List<torch.Tensor>();
            var perMode = new List<torch.Tensor>();
            for (int k = 0; k < gmm.Weights.Length; k++)
            {
                double v = gmm.Stds[k] * gmm.Stds[k] + sigma * sigma;
                var mu = torch.tensor(gmm.Means[k]);
                logits.Add(Math.Log(gmm.Weights[k]) - 2.5 * Math.Log(2 * Math.PI * v) - (x - mu).square().sum(1) / (2 * v));
                perMode.Add(mu + (x - mu) * (gmm.Stds[k] * gmm.Stds[k] / v));
            }
            var r = torch.softmax(torch.stack(logits, 1), 1);
            var d = (r.unsqueeze(-1) * torch.stack(perMode, 1)).sum(1);
            Assert.True(MaxAbs(gmm.Denoise(x, sigma), d) < 1e-13, $"σ = {sigma}: D differs by {MaxAbs(gmm.Denoise(x, sigma), d):e3}");
            Assert.True(MaxAbs(gmm.FlowVelocity(x, sigma), (x - d) / sigma) < 1e-10 * Math.Max(1, 1 / sigma), $"σ = {sigma}: slope differs");
        }
    }

    [Fact]
    public void Cached_reference_is_reused_and_a_wrong_shape_is_refused()
    {
        var gmm = GaussianMixture.Ring();
        var eps = torch.randn([32, 2], torch.ScalarType.Float64, generator: new torch.Generator(5));
        string dir = Path.Combine(Path.GetTempPath(), "tessera-flowref-" + Guid.NewGuid().ToString("N"));
        try
        {
            var a = FlowReference.Cached(dir, gmm, eps, 80);
            Assert.Single(Directory.GetFiles(dir, "*.bin"));
            var b = FlowReference.Cached(dir, gmm, eps, 80);
            Assert.Equal(0, MaxAbs(a, b));
            Assert.NotEqual(FlowReference.Key(gmm, eps, 80), FlowReference.Key(gmm, eps * 1.0000001, 80));
            Assert.NotEqual(FlowReference.Key(gmm, eps, 80), FlowReference.Key(gmm, eps, 40));
            var path = Directory.GetFiles(dir, "*.bin")[0];
            var e = Assert.Throws<Tessera.TesseraFormatException>(() => FlowReference.Load(path, torch.zeros(31, 2)));
            Assert.Contains("expected [31, 2]", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}
