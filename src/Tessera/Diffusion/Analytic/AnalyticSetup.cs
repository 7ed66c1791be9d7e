using System.Text.Json.Nodes;
using Tessera.Diffusion.Grids;
using Tessera.Diffusion.Samplers;

namespace Tessera.Diffusion.Analytic;

/// <summary>
/// The problem of an analytic run and the benchmark over the built-in problems (what <c>tessera diffusion analytic</c>
/// runs): a built-in problem with its own noises, or a mixture file (default the 8-mode ring) with a noise file
/// (default <see cref="Samples"/> draws from <see cref="Seed"/>), on the σ range of the EDM grids.
/// </summary>
public sealed record AnalyticSetup
{
    /// <summary>A built-in problem (<see cref="BuiltInProblems.Names"/>) instead of <see cref="MixtureFile"/> and <see cref="NoiseFile"/>.</summary>
    public string? Problem { get; init; }

    /// <summary>Mixture JSON (<see cref="GaussianMixture.Load"/>); null: the ring.</summary>
    public string? MixtureFile { get; init; }

    /// <summary>Raw float64 [N, dim] standard-normal noise (<see cref="RawArray.ReadFloat64"/>); null: drawn from <see cref="Seed"/>.</summary>
    public string? NoiseFile { get; init; }

    /// <summary>Number of drawn noises; null: 1,024, or a built-in problem's own count.</summary>
    public int? Samples { get; init; }

    /// <summary>Smallest non-zero σ.</summary>
    public double SigmaMin { get; init; } = 0.002;

    /// <summary>Largest σ.</summary>
    public double SigmaMax { get; init; } = 80;

    /// <summary>ρ of the karras and polyexponential grids.</summary>
    public double Rho { get; init; } = 7;

    /// <summary>Seed of drawn noise and of the exact samples.</summary>
    public long Seed { get; init; }

    /// <summary>η of the ancestral/SDE samplers (null: 1) and of ddim (null: 0).</summary>
    public double? Eta { get; init; }

    /// <summary>Order of unipc and deis (null: 3, at most 3) and the highest of ipndm (null: 4).</summary>
    public int? Order { get; init; }

    /// <summary>S_churn of edm_stochastic.</summary>
    public double SChurn { get; init; } = 40;

    /// <summary>Relative and absolute tolerance of rk45.</summary>
    public double Rtol { get; init; } = 1e-5;

    /// <summary>The σ-grid of a single run: a grid of <see cref="GridNames"/> with <paramref name="steps"/> steps on this setup's σ range and ρ, or a grid file (<see cref="SigmaGridFile"/>).</summary>
    public double[] Sigmas(string grid, int steps) =>
        GridNames.All.Contains(grid) ? GridNames.Build(grid, steps, SigmaMin, SigmaMax, Rho) : SigmaGridFile.Read(grid);

    /// <summary>The samplers' options of a single run.</summary>
    public SamplerOptions Sampling() => new()
    {
        Eta = Eta ?? 1,
        DdimEta = Eta ?? 0,
        Edm = new EdmStochasticOptions(SChurn),
        Rk45 = new Rk45Options(Rtol, Rtol),
        UniPc = new UniPcOptions(Math.Min(Order ?? 3, 3)),
        DeisOrder = Math.Min(Order ?? 3, 3),
        IpndmOrder = Order ?? 4,
    };

    /// <summary>
    /// Sets the converged probability-flow reference of <paramref name="problem"/>: read from <paramref name="referenceFile"/>,
    /// else solved from <paramref name="sigmaMax"/> (the grid's first σ) once and cached in <paramref name="cacheFolder"/>.
    /// </summary>
    public static void UseReference(AnalyticProblem problem, string? referenceFile, string cacheFolder, double sigmaMax, CancellationToken cancellation = default) =>
        problem.UseReference(referenceFile is not null ? FlowReference.Load(referenceFile, problem.Noise)
            : FlowReference.Cached(cacheFolder, problem.Mixture, problem.Noise, sigmaMax, cancellation: cancellation));

    /// <summary>The problem of a single run (its reference not yet set).</summary>
    /// <exception cref="TesseraFormatException">The noise file's shape does not fit the mixture.</exception>
    public AnalyticProblem Build(CancellationToken cancellation = default)
    {
        GaussianMixture mixture;
        torch.Tensor noise;
        if (Problem is not null)
        {
            var p = BuiltInProblems.Get(Problem);
            (mixture, noise) = (p.Mixture, p.Noise(Samples));
        }
        else
        {
            mixture = MixtureFile is null ? GaussianMixture.Ring() : GaussianMixture.Load(MixtureFile);
            if (NoiseFile is null) noise = torch.randn([Samples ?? 1024, mixture.Dim], torch.ScalarType.Float64, generator: new torch.Generator((ulong)Seed));
            else
            {
                noise = RawArray.ReadFloat64(NoiseFile);
                if (noise.dim() != 2 || noise.shape[1] != mixture.Dim)
                    throw new TesseraFormatException(NoiseFile, $"noise has shape [{string.Join(", ", noise.shape)}], expected [N, {mixture.Dim}] for the mixture's dim {mixture.Dim}");
            }
        }
        return new AnalyticProblem(mixture, noise, SigmaMin, SigmaMax, Rho, Seed) { Cancellation = cancellation };
    }

    /// <summary>
    /// The JSON report of a single run: sampler, steps, nfe, rmse_vs_ode, sw2, the grid's name and σ values, this setup's
    /// σ range, and the problem's sample count and dimension.
    /// </summary>
    public string Report(AnalyticResult result, AnalyticProblem problem, string grid, IReadOnlyList<double> sigmas) => new JsonObject
    {
        ["sampler"] = result.Sampler,
        ["steps"] = result.Steps,
        ["nfe"] = result.Nfe,
        ["rmse_vs_ode"] = result.RmseVsOde,
        ["sw2"] = result.Sw2,
        ["grid"] = grid,
        ["sigmas"] = new JsonArray(sigmas.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray()),
        ["sigma_min"] = SigmaMin,
        ["sigma_max"] = SigmaMax,
        ["num_samples"] = problem.Noise.shape[0],
        ["dim"] = problem.Mixture.Dim,
    }.ToJsonString(new JsonSerializerOptions { WriteIndented = true });

    /// <summary>The deterministic (sampler, grid) rows of the benchmark.</summary>
    public static readonly (string Sampler, string Grid)[] BenchDeterministic =
    [
        ("euler", "karras"), ("heun", "karras"), ("dpm_2", "karras"), ("lms", "karras"), ("ddim", "karras"),
        ("dpmpp_2m", "karras"), ("dpmpp_2m", "exponential"), ("dpmpp_3m", "karras"), ("dpmpp_3m", "exponential"), ("dpmpp_3m", "polyexponential"),
        ("unipc", "karras"), ("unipc", "exponential"), ("unipc_bh1", "karras"), ("deis", "karras"), ("ipndm", "karras"), ("rk45", "karras"),
    ];

    /// <summary>The NFE budgets of the stochastic samplers' rows (SW2 to exact samples).</summary>
    public static readonly int[] BenchStochasticBudgets = [20, 40, 80];

    private static (string Sampler, string Grid)[] BenchStochastic => [.. SamplerRegistry.StochasticNames.Select(n => (n, "karras"))];

    /// <summary>
    /// The built-in problems <see cref="Bench"/> runs (names of <see cref="BuiltInProblems.Names"/>, in order); default
    /// <see cref="BuiltInProblems.BenchDefault"/>, the ring and the 64-D mixture. <see cref="BuiltInProblems.Names"/>: all four.
    /// </summary>
    public IReadOnlyList<string> BenchProblems { get; init; } = BuiltInProblems.BenchDefault;

    /// <summary>The number of cells <see cref="Bench"/> computes.</summary>
    public int BenchCells =>
        BenchProblems.Count * (BenchDeterministic.Length * AnalyticBenchmark.Budgets.Length + BenchStochastic.Length * BenchStochasticBudgets.Length);

    /// <summary>
    /// RMS error against NFE for every deterministic sampler and SW2 for the stochastic ones, on the built-in problems of
    /// <see cref="BenchProblems"/> with their own noises (this setup's <see cref="Samples"/>, σ range, ρ and seed); the
    /// converged references are cached in <paramref name="cacheFolder"/>. <paramref name="progress"/> gets the cells done so far.
    /// </summary>
    /// <exception cref="TesseraUserException">No problem, or a name that is not a built-in problem (parameter <c>BenchProblems</c>).</exception>
    public List<BenchmarkCell> Bench(string cacheFolder, IProgress<int>? progress = null, CancellationToken cancellation = default)
    {
        if (BenchProblems.Count == 0) throw new TesseraUserException(nameof(BenchProblems), "no problem given");
        foreach (string name in BenchProblems)
            if (!BuiltInProblems.Names.Contains(name))
                throw new TesseraUserException(nameof(BenchProblems), $"unknown problem '{name}'; expected one of {string.Join(", ", BuiltInProblems.Names)}");
        var problems = BenchProblems.Select(name =>
        {
            var problem = (this with { Problem = name }).Build(cancellation);
            problem.UseReference(FlowReference.Cached(cacheFolder, problem.Mixture, problem.Noise, SigmaMax, cancellation: cancellation));
            return (BuiltInProblems.Get(name).Label, problem);
        }).ToArray();
        var cells = new List<BenchmarkCell>();
        int done = 0;
        void Step(string _)
        {
            cancellation.ThrowIfCancellationRequested();
            progress?.Report(++done);
        }
        foreach (var (label, problem) in problems)
        {
            cells.AddRange(AnalyticBenchmark.Run(label, problem, BenchDeterministic, AnalyticBenchmark.Budgets, Step));
            cells.AddRange(AnalyticBenchmark.Run(label, problem, BenchStochastic, BenchStochasticBudgets, Step));
        }
        return cells;
    }
}
