using Tessera.Diffusion.Grids;
using Tessera.Diffusion.Samplers;

namespace Tessera.Diffusion.Analytic;

/// <summary>One sampler run on a mixture and how good it was.</summary>
/// <param name="Sampler">Sampler name.</param>
/// <param name="Steps">Steps of the grid.</param>
/// <param name="Nfe">Denoiser evaluations made.</param>
/// <param name="RmseVsOde">RMS per dimension against the converged probability-flow solution from the same noise.</param>
/// <param name="Sw2">Sliced Wasserstein-2 distance to exact mixture samples.</param>
/// <param name="Samples">The samples [N, d].</param>
public sealed record AnalyticResult(string Sampler, int Steps, int Nfe, double RmseVsOde, double Sw2, torch.Tensor Samples);

/// <summary>
/// A sampler test bed: a mixture, a fixed noise tensor ε [N, d], and the reference solutions — the
/// probability-flow ODE solved to tight tolerance from σ_max·ε, and N exact samples of the data.
/// </summary>
public sealed class AnalyticProblem
{
    /// <summary>The mixture.</summary>
    public GaussianMixture Mixture { get; }

    /// <summary>The standard-normal starting noise [N, d].</summary>
    public torch.Tensor Noise { get; }

    /// <summary>σ_min of the grids.</summary>
    public double SigmaMin { get; }

    /// <summary>σ_max of the grids.</summary>
    public double SigmaMax { get; }

    /// <summary>ρ of the Karras and polyexponential grids.</summary>
    public double Rho { get; }

    private readonly long _seed;
    private torch.Tensor? _ode;
    private torch.Tensor? _exact;
    private SlicedWassersteinTarget? _exactTarget;

    /// <summary>Checked at every denoiser evaluation of the runs and of the reference.</summary>
    public CancellationToken Cancellation { get; init; }

    /// <summary>Sets up the problem; the references are computed on first use.</summary>
    public AnalyticProblem(GaussianMixture mixture, torch.Tensor noise, double sigmaMin = 0.002, double sigmaMax = 80, double rho = 7, long seed = 0)
    {
        if (noise.dim() != 2 || noise.shape[1] != mixture.Dim)
            throw new TesseraUserException(nameof(noise), $"noise has shape [{string.Join(", ", noise.shape)}], expected [N, {mixture.Dim}]");
        Mixture = mixture;
        Noise = noise.to(torch.ScalarType.Float64);
        SigmaMin = sigmaMin;
        SigmaMax = sigmaMax;
        Rho = rho;
        _seed = seed;
    }

    /// <summary>
    /// The converged PF-ODE solution from σ_max·ε to σ = 0 (<see cref="FlowReference"/>), solved on first use unless
    /// given with <see cref="UseReference"/>.
    /// </summary>
    public torch.Tensor OdeReference => _ode ??= FlowReference.Solve(Mixture, Noise, SigmaMax, cancellation: Cancellation).X.DetachFromDisposeScope();

    /// <summary>Uses <paramref name="reference"/> [N, d] (e.g. from <see cref="FlowReference.Cached"/>) as the PF-ODE solution.</summary>
    /// <exception cref="TesseraUserException">Its shape is not the noise's.</exception>
    public void UseReference(torch.Tensor reference)
    {
        if (reference.dim() != 2 || reference.shape[0] != Noise.shape[0] || reference.shape[1] != Noise.shape[1])
            throw new TesseraUserException(nameof(reference), $"reference has shape [{string.Join(", ", reference.shape)}], expected [{Noise.shape[0]}, {Noise.shape[1]}]");
        _ode?.Dispose();
        _ode = reference.to(torch.ScalarType.Float64).DetachFromDisposeScope();
    }

    /// <summary>N exact samples of the data (seeded).</summary>
    public torch.Tensor ExactSamples => _exact ??= Mixture.Sample((int)Noise.shape[0], new torch.Generator((ulong)(_seed + 1_000_003))).DetachFromDisposeScope();

    /// <summary>Runs <paramref name="sampler"/> on grid <paramref name="grid"/> with <paramref name="steps"/> steps.</summary>
    public AnalyticResult Run(string sampler, int steps, string grid = "karras", SamplerOptions? options = null) =>
        Run(sampler, GridNames.Build(grid, steps, SigmaMin, SigmaMax, Rho), options);

    /// <summary>
    /// The sorted projections of <see cref="ExactSamples"/> on SW2's 256 directions (seeded), made once: every run's SW2
    /// is measured against the same directions and samples.
    /// </summary>
    private SlicedWassersteinTarget ExactTarget => _exactTarget ??= SlicedWassersteinTarget.Seeded(ExactSamples, 256, (ulong)(_seed + 2_000_029));

    /// <summary>
    /// Runs <paramref name="sampler"/> down an explicit σ-grid (starting from x = σ₀·ε). The stochastic samplers draw all
    /// N rows of each step's noise at once from one generator seeded with the problem's seed.
    /// </summary>
    public AnalyticResult Run(string sampler, IReadOnlyList<double> sigmas, SamplerOptions? options = null)
    {
        int steps = sigmas.Count - 1;
        var token = Cancellation;
        var counter = new CountingDenoiser((x, s) =>
        {
            token.ThrowIfCancellationRequested();
            return Mixture.Denoise(x, s);
        });
        // The references exist before the scope opens (they outlive it); everything else of the run is freed with it.
        var reference = OdeReference;
        var target = ExactTarget;
        using var noise = new GeneratorNoise(_seed);
        using var scope = torch.NewDisposeScope();
        var x = SamplerRegistry.Sample(sampler, counter.AsDenoiser(), Noise.Times(sigmas[0]), sigmas, noise, options);
        double rmse = (x - reference).Squared().mean().sqrt().item<double>();
        double sw2 = target.Distance(x);
        return new AnalyticResult(sampler, steps, counter.Evaluations, rmse, sw2, x.MoveToOuterDisposeScope());
    }

    /// <summary>Steps that make a sampler use about <paramref name="nfe"/> evaluations (Heun-type: 2n − 1).</summary>
    public static int StepsForNfe(string sampler, int nfe) => sampler switch
    {
        "heun" or "dpm_2" => Math.Max(1, (nfe + 1) / 2),
        "edm_stochastic" => Math.Max(1, (nfe + 1) / 2),
        "pc_langevin" => Math.Max(1, nfe / 2),
        _ => Math.Max(1, nfe),
    };

    /// <summary>A d-dimensional test mixture (fixed by <paramref name="seed"/>): K modes with means of norm about 4 and stds 0.3–0.8.</summary>
    public static GaussianMixture RandomMixture(int dim, int modes, long seed)
    {
        var g = new torch.Generator((ulong)seed);
        var means = torch.randn([modes, dim], torch.ScalarType.Float64, generator: g);
        means = means / means.norm(1, keepdim: true) * 4;
        var stds = torch.rand(modes, torch.ScalarType.Float64, generator: g) * 0.5 + 0.3;
        var w = torch.rand(modes, torch.ScalarType.Float64, generator: g) + 0.5;
        w = w / w.sum();
        double[] weights = w.data<double>().ToArray();
        weights[^1] = 1 - weights[..^1].Sum();
        return new GaussianMixture(dim, weights, stds.data<double>().ToArray(),
            Enumerable.Range(0, modes).Select(k => means[k].data<double>().ToArray()).ToArray());
    }
}
