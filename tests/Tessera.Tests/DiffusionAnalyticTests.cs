using Tessera.Diffusion.Evaluation;
using Tessera.Diffusion.Preconditioning;
using Tessera.Diffusion.Schedules;

namespace Tessera.Tests;

/// <summary>Exact identities of the diffusion framework on Gaussian mixtures.</summary>
public class DiffusionAnalyticTests
{
    private static GaussianMixture Ring() => GaussianMixture.Ring();

    private static torch.Tensor Noise(int n, int d, long seed) => torch.randn([n, d], torch.ScalarType.Float64, generator: new torch.Generator((ulong)seed));

    private static double MaxAbs(torch.Tensor a, torch.Tensor b) => (a - b).abs().max().item<double>();

    private static double Rms(torch.Tensor a, torch.Tensor b) => (a - b).square().mean().sqrt().item<double>();

    [Fact]
    public void Ddim_eta0_euler_and_rectified_flow_euler_take_the_same_steps()
    {
        var gmm = Ring();
        var sigmas = SigmaGrids.Karras(12, 0.002, 80);
        var x = Noise(32, 2, 1) * 80.0;
        var euler = Euler.Sample(gmm.AsDenoiser(), x, sigmas);
        var ddim = Ddim.Sample(gmm.AsDenoiser(), x, sigmas, eta: 0);
        // Flow velocity u = ε − x₀ from the denoiser, evaluated in flow coordinates z = x/(1 + σ), σ = t/(1 − t).
        torch.Tensor Velocity(torch.Tensor z, double t)
        {
            double sigma = t / (1 - t);
            var xs = z * (1 + sigma);
            using var d = gmm.Denoise(xs, sigma);
            return Predictions.FromDenoised(PredictionType.FlowVelocity, d, xs, sigma);
        }
        var flow = FlowEuler.Sample(Velocity, x, sigmas);
        Assert.True(MaxAbs(euler, ddim) < 1e-12, $"DDIM vs Euler {MaxAbs(euler, ddim)}");
        Assert.True(MaxAbs(euler, flow) < 1e-12, $"flow vs Euler {MaxAbs(euler, flow)}");
    }

    [Fact]
    public void Ddim_with_eta_1_is_ddpm_ancestral_sampling()
    {
        var gmm = Ring();
        var sigmas = SigmaGrids.Karras(10, 0.01, 80);
        var x = Noise(16, 2, 2) * 80.0;
        var a = Ddim.Sample(gmm.AsDenoiser(), x, sigmas, 1, new GeneratorNoise(5));
        var b = Ddpm.Sample(gmm.AsDenoiser(), x, sigmas, new GeneratorNoise(5));
        Assert.True(MaxAbs(a, b) < 1e-11, $"{MaxAbs(a, b)}");
        // and the same as ancestral Euler (k-diffusion's form of the same step)
        var c = EulerAncestral.Sample(gmm.AsDenoiser(), x, sigmas, new GeneratorNoise(5));
        Assert.True(MaxAbs(a, c) < 1e-11, $"{MaxAbs(a, c)}");
    }

    [Fact]
    public void Single_gaussian_follows_its_closed_form_trajectory()
    {
        // Data N(μ, s²I): x(σ) − μ = (x(σ₀) − μ)·√((s² + σ²)/(s² + σ₀²)) along the probability flow.
        double s = 0.7;
        var mu = new[] { 1.5, -2.0, 0.25 };
        var gauss = new GaussianMixture(3, [1.0], [s], [mu]);
        var x0 = Noise(8, 3, 3) * 80.0;
        double sigmaMin = 0.05;
        var grid = SigmaGrids.Karras(40, sigmaMin, 80)[..^1]; // stop at σ_min, no final denoising
        var exact = (x0 - torch.tensor(mu)) * Math.Sqrt((s * s + sigmaMin * sigmaMin) / (s * s + 80 * 80)) + torch.tensor(mu);
        var rk = Rk45Sampler.Sample(gauss.AsDenoiser(), x0, grid, new Rk45Options(1e-10, 1e-10));
        Assert.True(MaxAbs(rk, exact) < 1e-7, $"rk45 {MaxAbs(rk, exact)}");
        var heun = Heun.Sample(gauss.AsDenoiser(), x0, SigmaGrids.Karras(400, sigmaMin, 80)[..^1]);
        Assert.True(MaxAbs(heun, exact) < 1e-4, $"heun {MaxAbs(heun, exact)}");
    }

    [Theory]
    [InlineData("euler", 1.0)]
    [InlineData("heun", 2.0)]
    [InlineData("dpmpp_2m", 2.0)]
    public void Measured_convergence_order(string sampler, double order)
    {
        var gmm = Ring();
        var x = Noise(64, 2, 4) * 80.0;
        double sigmaMin = 0.1;
        var reference = Rk45Sampler.Sample(gmm.AsDenoiser(), x, SigmaGrids.Karras(8, sigmaMin, 80)[..^1], new Rk45Options(1e-12, 1e-12));
        double Error(int n) => Rms(SamplerRegistry.Sample(sampler, gmm.AsDenoiser(), x, SigmaGrids.Karras(n, sigmaMin, 80)[..^1], new GeneratorNoise(0)), reference);
        double e1 = Error(96), e2 = Error(192);
        double measured = Math.Log2(e1 / e2);
        Assert.InRange(measured, order - 0.3, order + 0.5);
    }

    [Fact]
    public void Third_order_multistep_beats_second_order_at_equal_steps()
    {
        // Its first two steps are of lower order, so the global order stays 2, but the constant is smaller.
        var gmm = Ring();
        var x = Noise(64, 2, 4) * 80.0;
        var grid = SigmaGrids.Karras(40, 0.1, 80)[..^1];
        var reference = Rk45Sampler.Sample(gmm.AsDenoiser(), x, grid, new Rk45Options(1e-12, 1e-12));
        double e2 = Rms(DpmSolverPP2M.Sample(gmm.AsDenoiser(), x, grid), reference);
        double e3 = Rms(SamplerRegistry.Sample("dpmpp_3m", gmm.AsDenoiser(), x, grid, new GeneratorNoise(0)), reference);
        Assert.True(e3 < e2, $"3M {e3} vs 2M {e2}");
    }

    // The ring's data at σ_min and its exact marginal at σ_max as the prior.
    private const double LikelihoodSigmaMin = 0.05, LikelihoodSigmaMax = 40;

    /// <summary><paramref name="n"/> points of the ring at σ_min (drawn with <paramref name="seed"/>) and their exact log-density.</summary>
    private static (GaussianMixture Gmm, torch.Tensor X, torch.Tensor Exact) LikelihoodPoints(int n, ulong seed)
    {
        var gmm = Ring();
        var x = gmm.Sample(n, new torch.Generator(seed), LikelihoodSigmaMin);
        return (gmm, x, gmm.LogDensity(x, LikelihoodSigmaMin));
    }

    private static LikelihoodResult OdeLikelihood(GaussianMixture gmm, torch.Tensor x, DivergenceMethod method, double tolerance, Func<torch.Tensor, double, torch.Tensor>? divergence = null,
        torch.Generator? generator = null, IProgress<double>? progress = null, CancellationToken cancellation = default) =>
        Likelihood.Compute(gmm.AsDenoiser(), x, LikelihoodSigmaMin, LikelihoodSigmaMax, xs => gmm.LogDensity(xs, LikelihoodSigmaMax), method,
            new Rk45Options(tolerance, tolerance), divergence, generator, progress, cancellation);

    [Fact]
    public void Ode_log_likelihood_equals_the_closed_form_density()
    {
        var (gmm, x, exact) = LikelihoodPoints(16, 7);
        var fractions = new List<double>();
        using var auto = OdeLikelihood(gmm, x, DivergenceMethod.Exact, 1e-9, progress: new InlineProgress<double>(fractions.Add));
        Assert.True(MaxAbs(auto.LogLikelihood, exact) < 1e-5, $"autograd divergence {MaxAbs(auto.LogLikelihood, exact)}");
        using var analytic = OdeLikelihood(gmm, x, DivergenceMethod.Exact, 1e-9, gmm.DenoiserDivergence);
        Assert.True(MaxAbs(analytic.LogLikelihood, exact) < 1e-5, $"analytic divergence {MaxAbs(analytic.LogLikelihood, exact)}");
        Assert.True(MaxAbs(auto.BitsPerDim, -exact / (2 * Math.Log(2))) < 1e-5);
        // Progress rises strictly and ends where the integration ends, at ln σ_max.
        Assert.True(fractions.Count > 2 && fractions.Zip(fractions.Skip(1)).All(p => p.Second > p.First), string.Join(", ", fractions));
        Assert.Equal(1.0, fractions[^1], 12);
    }

    [Fact]
    public void Ode_log_likelihood_stops_when_cancelled()
    {
        var (gmm, x, _) = LikelihoodPoints(4, 7);
        using var cancel = new CancellationTokenSource();
        int reports = 0;
        var progress = new InlineProgress<double>(_ => { if (++reports == 3) cancel.Cancel(); });
        Assert.Throws<OperationCanceledException>(() => OdeLikelihood(gmm, x, DivergenceMethod.Exact, 1e-9, progress: progress, cancellation: cancel.Token));
        Assert.Equal(3, reports);
    }

    [Fact]
    public void Hutchinson_estimate_is_unbiased_within_its_monte_carlo_error()
    {
        var (gmm, x, exact) = LikelihoodPoints(4, 8);
        var gen = new torch.Generator(9);
        var runs = Enumerable.Range(0, 48).Select(_ => OdeLikelihood(gmm, x, DivergenceMethod.Hutchinson, 1e-6, generator: gen).LogLikelihood).ToArray();
        var stack = torch.stack(runs);
        var mean = stack.mean([0]);
        var se = stack.std(0) / Math.Sqrt(runs.Length);
        var z = ((mean - exact).abs() / se).max().item<double>();
        Assert.True(z < 4.5, $"bias of {z:0.00} standard errors");
        Assert.True(se.max().item<double>() > 1e-3); // the estimator really is random
    }

    [Fact]
    public void Mixture_divergence_matches_autograd()
    {
        var gmm = Ring();
        var x = Noise(5, 2, 11) * 3.0;
        using var enable = torch.enable_grad();
        var xg = x.detach().requires_grad_(true);
        var d = gmm.Denoise(xg, 0.8);
        var tr = torch.zeros(5, torch.ScalarType.Float64);
        for (int i = 0; i < 2; i++)
            tr = tr + torch.autograd.grad([d[.., i].sum()], [xg], retain_graph: true)[0][.., i];
        Assert.True(MaxAbs(tr, gmm.DenoiserDivergence(x, 0.8)) < 1e-12);
    }

    [Fact]
    public void Sde_views_reduce_to_songs_vp_and_subvp_equations()
    {
        var vp = new VpSchedule();
        var sub = new SubVpSchedule();
        foreach (double t in new[] { 0.01, 0.3, 0.9 })
        {
            double beta = 0.1 + 19.9 * t, b = 0.1 * t + 0.5 * 19.9 * t * t;
            Assert.Equal(-0.5 * beta, Sde.DriftCoefficient(vp, t), 10);                               // f = −β/2
            Assert.Equal(beta, Math.Pow(Sde.Diffusion(vp, t), 2), 9);                                  // g² = β
            Assert.Equal(-0.5 * beta, Sde.DriftCoefficient(sub, t), 10);
            Assert.Equal(beta * (1 - Math.Exp(-2 * b)), Math.Pow(Sde.Diffusion(sub, t), 2), 9);        // g² = β(1 − e^{−2B})
            Assert.Equal(t, vp.SigmaInv(vp.Sigma(t)), 12);
            Assert.Equal(t, sub.SigmaInv(sub.Sigma(t)), 12);
        }
        var ve = new VeSchedule();
        foreach (double t in new[] { 0.1, 0.5 })
            Assert.Equal(2 * ve.Sigma(t) * ve.SigmaDeriv(t), Math.Pow(Sde.Diffusion(ve, t), 2), 9);   // g² = d σ²/dt
        var flow = new RectifiedFlowSchedule();
        // x_t = (1 − t)·x₀ + t·ε = s(t)·(x₀ + σ(t)·ε): s = 1 − t and s·σ = t.
        Assert.Equal(0.7, flow.Scale(0.3), 14);
        Assert.Equal(0.3, flow.Scale(0.3) * flow.Sigma(0.3), 14);
        var cos = new CosineSchedule();
        double h = 1e-6;
        foreach (Schedule sch in new Schedule[] { vp, sub, ve, flow, cos, new EdmSchedule(), new VeSqrtSchedule() })
            foreach (double frac in new[] { 0.2, 0.6 })
            {
                double t = sch.TMin + frac * (sch.TMax - sch.TMin);
                Assert.Equal((sch.Sigma(t + h) - sch.Sigma(t - h)) / (2 * h), sch.SigmaDeriv(t), 3);
                Assert.Equal((sch.Scale(t + h) - sch.Scale(t - h)) / (2 * h), sch.ScaleDeriv(t), 5);
                Assert.Equal(t, sch.SigmaInv(sch.Sigma(t)), 9);
            }
    }

    [Fact]
    public void Probability_flow_in_time_matches_the_sigma_form_for_vp()
    {
        // For VP, dx/dt from the general formula must equal s'·x/s + s·σ'·(x/s − D(x/s; σ))/σ... checked numerically:
        // integrating dx/dt with small Euler steps tracks the σ-space solution mapped by s(t).
        var gmm = Ring();
        var vp = new VpSchedule();
        var x0 = Noise(8, 2, 12);
        double t0 = 0.6, t1 = 0.3;
        int n = 4000;
        var x = x0 * (vp.Scale(t0) * vp.Sigma(t0));
        for (int i = 0; i < n; i++)
        {
            double t = t0 + (t1 - t0) * i / n;
            x = x + Sde.ProbabilityFlow(vp, gmm.AsDenoiser(), x, t) * ((t1 - t0) / n);
        }
        var sigmas = Enumerable.Range(0, n + 1).Select(i => vp.Sigma(t0 + (t1 - t0) * i / n)).ToArray();
        var y = Heun.Sample(gmm.AsDenoiser(), x0 * vp.Sigma(t0), sigmas);
        Assert.True(MaxAbs(x / vp.Scale(t1), y) < 2e-3, $"{MaxAbs(x / vp.Scale(t1), y)}");
    }

    [Fact]
    public void Prediction_adapters_round_trip_every_type()
    {
        var x = Noise(4, 3, 13) * 2.0;
        var d = Noise(4, 3, 14);
        foreach (PredictionType type in Enum.GetValues<PredictionType>())
            foreach (double sigma in new[] { 0.01, 1.0, 50.0 })
            {
                var p = Predictions.FromDenoised(type, d, x, sigma);
                Assert.True(MaxAbs(Predictions.ToDenoised(type, p, x, sigma), d) < 1e-10 * Math.Max(1, sigma), $"{type} at {sigma}");
            }
        // ε-prediction is the noise: x = x₀ + σε ⇒ D = x − σε.
        var eps = Noise(4, 3, 15);
        Assert.True(MaxAbs(Predictions.ToDenoised(PredictionType.Epsilon, eps, d + eps * 0.5, 0.5), d) < 1e-14);
        // v in VP coordinates: v = α·ε − σ_vp·x₀ with α = 1/√(1+σ²).
        double sg = 2, al = 1 / Math.Sqrt(1 + sg * sg);
        var v = eps * al - d * (sg * al);
        Assert.True(MaxAbs(Predictions.ToDenoised(PredictionType.V, v, d + eps * sg, sg), d) < 1e-13);
    }

    [Fact]
    public void Zero_terminal_snr_rescaling_ends_at_zero_and_keeps_the_first_value()
    {
        var plain = new DiscreteSchedule(BetaSchedule.ScaledLinear);
        var zsnr = new DiscreteSchedule(BetaSchedule.ScaledLinear, zeroTerminalSnr: true);
        Assert.Equal(0, zsnr.AlphasCumprod[^1], 12);
        Assert.Equal(plain.AlphasCumprod[0], zsnr.AlphasCumprod[0], 12);
        Assert.True(double.IsPositiveInfinity(zsnr.Sigma(999)));
        // Ho et al.'s linear schedule: ᾱ₉₉₉ ≈ 4.04e-5 (a published property of that table).
        var ho = new DiscreteSchedule(BetaSchedule.Linear);
        Assert.InRange(ho.AlphasCumprod[999], 4.0e-5, 4.1e-5);
        Assert.Equal(new[] { 999, 899, 799, 699, 599, 499, 399, 299, 199, 99 }, ho.Timesteps(10, TimestepSpacing.Trailing));
        Assert.Equal(new[] { 900, 800, 700, 600, 500, 400, 300, 200, 100, 0 }, ho.Timesteps(10, TimestepSpacing.Leading));
        Assert.Equal(new[] { 999, 888, 777, 666, 555, 444, 333, 222, 111, 0 }, ho.Timesteps(10, TimestepSpacing.Linspace));
    }
}

public class NoiseSourceTests
{
    [Fact]
    public void Per_sample_noise_makes_sample_i_independent_of_the_batch()
    {
        var mixture = new GaussianMixture(2, [0.5, 0.5], [0.3, 0.3], [[-2.0, 0.0], [2.0, 0.0]]);
        var sigmas = SigmaGrids.Karras(8, 0.01, 20);
        var start = torch.randn([6, 2], torch.ScalarType.Float64, generator: new torch.Generator(3)) * 20.0;
        var seeds = new long[] { 10, 11, 12, 13, 14, 15 };
        var full = DpmSolverPP2MSde.Sample(mixture.AsDenoiser(), start, sigmas, new PerSampleNoise(seeds));
        // Samples 2 and 4 alone, in another order and batch size, get the same draws and so the same result.
        var part = DpmSolverPP2MSde.Sample(mixture.AsDenoiser(), torch.stack([start[4], start[2]]), sigmas, new PerSampleNoise([14, 12]));
        Assert.True((full[4] - part[0]).abs().max().item<double>() == 0);
        Assert.True((full[2] - part[1]).abs().max().item<double>() == 0);
        var other = DpmSolverPP2MSde.Sample(mixture.AsDenoiser(), start, sigmas, new PerSampleNoise([20, 21, 22, 23, 24, 25]));
        Assert.True((full - other).abs().max().item<double>() > 1e-3);
    }
}
