using Tessera.Diffusion.Analytic;
using Tessera.Diffusion.Grids;

namespace Tessera.Cli.Commands;

/// <summary>Options of <c>tessera diffusion analytic</c>.</summary>
public sealed class DiffusionAnalyticSettings : GlobalSettings
{
    [CommandOption("--mixture <FILE>"), Description("Mixture JSON: dim, weights, stds (one isotropic std per mode), means. Default: the 8-mode ring of radius 4, std 0.5.")] public string? Mixture { get; init; }
    [CommandOption("--problem <NAME>"), Description("A built-in problem instead of --mixture/--noise: ring (2-D, 8 modes), mixture64 (64-D, 16 modes) or mixture16 (16-D, 32 modes), each with its own 4,096 noises.")] public string? Problem { get; init; }
    [CommandOption("--samples <N>"), Description("Number of noises when they are drawn (not with --noise). Default 1024, or the built-in problem's 4096.")] public int? Samples { get; init; }
    [CommandOption("--reference <FILE>"), Description("The converged PF-ODE solution [[N, dim]] (.bin + .json) to measure against. Default: solved once and cached as flow-reference-KEY.bin beside --out/--json (or in the current directory).")] public string? Reference { get; init; }
    [CommandOption("--noise <FILE>"), Description("Raw little-endian float64 [[N, dim]] standard-normal noise, with FILE.json (shape, dtype) beside it. Default: N = 1024 draws from --seed.")] public string? Noise { get; init; }
    [CommandOption("--sampler <NAME>"), Description("euler, heun, dpm_2, lms, dpmpp_2m, dpmpp_3m, ddim, rk45, unipc, unipc_bh1, deis, ipndm, euler_ancestral, dpmpp_2m_sde, dpmpp_3m_sde, edm_stochastic, ddpm, euler_maruyama, pc_langevin, annealed_langevin. Default dpmpp_3m.")] public string Sampler { get; init; } = "dpmpp_3m";
    [CommandOption("--steps <N>"), Description("Steps of the σ-grid (N + 1 values ending in 0). Default 18.")] public int Steps { get; init; } = 18;
    [CommandOption("--grid <NAME|FILE>"), Description("karras, exponential, polyexponential, vp or uniform-t, or a grid file (JSON with a 'sigmas' array, e.g. from 'diffusion schedule'; --steps is then ignored). Default karras.")] public string Grid { get; init; } = "karras";
    [CommandOption("--sigma-min <S>"), Description("Smallest non-zero σ. Default 0.002.")] public double SigmaMin { get; init; } = 0.002;
    [CommandOption("--sigma-max <S>"), Description("Largest σ; sampling starts at x = σ_max·ε. Default 80.")] public double SigmaMax { get; init; } = 80;
    [CommandOption("--rho <R>"), Description("ρ of the karras and polyexponential grids. Default 7.")] public double Rho { get; init; } = 7;
    [CommandOption("--eta <ETA>"), Description("η of the ancestral/SDE samplers (default 1) and of ddim (default 0).")] public double? Eta { get; init; }
    [CommandOption("--order <N>"), Description("Order of unipc/unipc_bh1 (1–3, default 3), of deis tAB (1–3, default 3) and the highest of ipndm (1–4, default 4).")] public int? Order { get; init; }
    [CommandOption("--s-churn <V>"), Description("S_churn of edm_stochastic. Default 40.")] public double SChurn { get; init; } = 40;
    [CommandOption("--rtol <V>"), Description("Relative and absolute tolerance of rk45. Default 1e-5.")] public double Rtol { get; init; } = 1e-5;
    [CommandOption("--output|--out <FILE>"), Description("Write the final samples as float64 .bin with a .json header.")] public string? Out { get; init; }
    [CommandOption("--json <FILE>"), Description("Write sampler, steps, nfe, rmse_vs_ode and sw2 as JSON.")] public string? Json { get; init; }
    [CommandOption("--bench"), Description("Instead of one run: RMS error against NFE (8 to 80) for every deterministic sampler, and SW2 for the stochastic ones, on the built-in problems of --bench-problems.")] public bool Bench { get; init; }
    [CommandOption("--bench-problems <LIST>"), Description("The built-in problems of --bench, comma-separated, or 'all' (ring, mixture64, mixture16, multiscale32). Default ring,mixture64.")] public string? BenchProblems { get; init; }

    /// <summary>The problem options.</summary>
    public AnalyticSetup Setup() => new() { Problem = Problem, MixtureFile = Mixture, NoiseFile = Noise, Samples = Samples, SigmaMin = SigmaMin, SigmaMax = SigmaMax, Rho = Rho, Seed = Seed, Eta = Eta, Order = Order, SChurn = SChurn, Rtol = Rtol, BenchProblems = BenchProblemNames() };

    private string[] BenchProblemNames() =>
        BenchProblems is null ? BuiltInProblems.BenchDefault : BenchProblems == "all" ? BuiltInProblems.Names : BenchProblems.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    public override ValidationResult Validate()
    {
        if (Steps < 1) return ValidationResult.Error($"--steps: {Steps}; expected at least 1");
        SamplerRegistry.Check(Sampler, "--sampler");
        if (!GridNames.All.Contains(Grid) && !File.Exists(Grid)) return ValidationResult.Error($"--grid: '{Grid}' is an unknown grid: neither a grid name ({string.Join(", ", GridNames.All)}) nor an existing grid file");
        if (Problem is not null && !BuiltInProblems.Names.Contains(Problem)) return ValidationResult.Error($"--problem: unknown problem '{Problem}'; expected one of {string.Join(", ", BuiltInProblems.Names)}");
        if (Problem is not null && (Mixture is not null || Noise is not null)) return ValidationResult.Error("--problem: give either a built-in problem or --mixture/--noise, not both");
        if (Samples is { } n && n < 2) return ValidationResult.Error($"--samples: {n}; expected at least 2");
        if (!(SigmaMin > 0) || !(SigmaMax > SigmaMin)) return ValidationResult.Error($"--sigma-min/--sigma-max: need 0 < σ_min < σ_max, got {SigmaMin} and {SigmaMax}");
        if (!(Rho > 0)) return ValidationResult.Error($"--rho: {Rho}; expected a positive number");
        if (Order is { } ord && (ord < 1 || ord > 4)) return ValidationResult.Error($"--order: {ord}; expected 1 to 4 (unipc and deis: 1 to 3)");
        if (!(Rtol > 0)) return ValidationResult.Error($"--rtol: {Rtol}; expected a positive number");
        if (BenchProblems is not null && BenchProblemNames() is var names && (names.Length == 0 || names.Any(n => !BuiltInProblems.Names.Contains(n))))
            return ValidationResult.Error($"--bench-problems: '{BenchProblems}'; expected 'all' or a comma-separated list of {string.Join(", ", BuiltInProblems.Names)}");
        return base.Validate();
    }
}

/// <summary><c>tessera diffusion analytic</c>: any sampler on a Gaussian mixture whose exact answers are known.</summary>
public sealed class DiffusionAnalyticCommand : TesseraCommand<DiffusionAnalyticSettings>
{
    public override int Execute(CommandContext context, DiffusionAnalyticSettings settings, CancellationToken cancellation)
    {
        settings.Apply();
        if (settings.Bench) return Bench(settings, cancellation);
        var problem = settings.Setup().Build(cancellation);
        double[] sigmas = settings.Setup().Sigmas(settings.Grid, settings.Steps);
        string? beside = settings.Out ?? settings.Json;
        AnalyticSetup.UseReference(problem, settings.Reference, beside is null ? Directory.GetCurrentDirectory() : Path.GetDirectoryName(Path.GetFullPath(beside))!, sigmas[0], cancellation);
        AnalyticResult r = problem.Run(settings.Sampler, sigmas, settings.Setup().Sampling());
        string F(double v) => v.ToString("0.000000e+0", CultureInfo.InvariantCulture);
        Ui.Result($"sampler {r.Sampler}  grid {settings.Grid}  steps {r.Steps}  nfe {r.Nfe}  rmse_vs_ode {F(r.RmseVsOde)}  sw2 {F(r.Sw2)}  (N = {problem.Noise.shape[0]}, d = {problem.Mixture.Dim})");
        if (settings.Out is not null)
        {
            RawArray.WriteFloat64(settings.Out, r.Samples, $"final samples of {r.Sampler}, {r.Steps} steps on the {settings.Grid} grid");
            Ui.Result($"wrote {Path.GetFullPath(settings.Out)}");
        }
        if (settings.Json is not null)
        {
            AtomicFile.WriteAllText(settings.Json, settings.Setup().Report(r, problem, settings.Grid, sigmas));
            Ui.Result($"wrote {Path.GetFullPath(settings.Json)}");
        }
        return Program.Ok;
    }

    private int Bench(DiffusionAnalyticSettings settings, CancellationToken cancellation)
    {
        // The built-in problems with their own 4,096 noises; the converged references are cached beside --json (or here).
        string cacheDir = settings.Json is null ? Directory.GetCurrentDirectory() : Path.GetDirectoryName(Path.GetFullPath(settings.Json))!;
        var all = Ui.WithProgress("benchmark", settings.Setup().BenchCells, "runs", report => settings.Setup().Bench(cacheDir, Ui.Counter(report), cancellation));
        foreach (var group in all.GroupBy(c => c.Problem))
        {
            foreach (bool stoch in new[] { false, true })
            {
                var rows = group.Where(c => SamplerRegistry.StochasticNames.Contains(c.Sampler) == stoch).ToList();
                int[] budgets = rows.Select(c => c.Budget).Distinct().Order().ToArray();
                var table = new Table().Title(Markup.Escape($"{group.Key}: {(stoch ? "SW2 to exact samples" : "RMS error vs converged PF-ODE")} by NFE budget (actual NFE in brackets)"));
                table.AddColumn("sampler/grid");
                foreach (int b in budgets) table.AddColumn(new TableColumn(b.ToString(CultureInfo.InvariantCulture)).RightAligned());
                foreach (var row in rows.GroupBy(c => $"{c.Sampler}/{c.Grid}"))
                    table.AddRow([Markup.Escape(row.Key), .. row.Select(c => c.Nfe == 0 ? "over budget" : Markup.Escape((stoch ? c.Sw2 : c.Rmse).ToString("0.000e+0", CultureInfo.InvariantCulture) + (c.Nfe != c.Budget ? $" [{c.Nfe}]" : "")))]);
                Ui.Console.Write(table);
            }
        }
        if (settings.Json is not null)
        {
            AtomicFile.WriteAllText(settings.Json, AnalyticBenchmark.ToJson(all));
            Ui.Result($"wrote {Path.GetFullPath(settings.Json)}");
        }
        return Program.Ok;
    }
}
