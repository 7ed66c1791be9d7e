using System.Text.Json.Nodes;
using Tessera.Diffusion.Analytic;

namespace Tessera.Cli.Commands;

/// <summary>Options of <c>tessera diffusion schedule</c>.</summary>
public sealed class DiffusionScheduleSettings : GlobalSettings
{
    [CommandOption("--problem <NAME>"), Description("Built-in mixture: ring, mixture64 or mixture16. Default ring.")] public string Problem { get; init; } = "ring";
    [CommandOption("--mixture <FILE>"), Description("Mixture JSON (dim, weights, stds, means) instead of --problem.")] public string? Mixture { get; init; }
    [CommandOption("--nfe <N>"), Description("Steps of the grid (= evaluations for one-call-per-step samplers). Default 10.")] public int Nfe { get; init; } = 10;
    [CommandOption("--sampler <NAME>"), Description("Deterministic sampler with one evaluation per step: dpmpp_2m, dpmpp_3m, unipc, unipc_bh1, deis, ipndm, euler, lms, ddim. Default unipc.")] public string Sampler { get; init; } = "unipc";
    [CommandOption("--samples <N>"), Description("Fresh noises the grid is fitted on (drawn from --seed, never the analytic bed's evaluation noise). Default 256.")] public int Samples { get; init; } = 256;
    [CommandOption("--out <FILE>"), Description("Grid file to write (JSON with 'sigmas'). Default grid.json.")] public string Out { get; init; } = "grid.json";

    public override ValidationResult Validate()
    {
        string[] ok = ["dpmpp_2m", "dpmpp_3m", "unipc", "unipc_bh1", "deis", "ipndm", "euler", "lms", "ddim"];
        if (!ok.Contains(Sampler)) return ValidationResult.Error($"--sampler: '{Sampler}'; expected one of {string.Join(", ", ok)}");
        if (Nfe < 2) return ValidationResult.Error($"--nfe: {Nfe}; expected at least 2");
        if (Samples < 2) return ValidationResult.Error($"--samples: {Samples}; expected at least 2");
        if (!BuiltInProblems.Names.Contains(Problem)) return ValidationResult.Error($"--problem: unknown problem '{Problem}'; expected one of {string.Join(", ", BuiltInProblems.Names)}");
        return base.Validate();
    }
}

/// <summary><c>tessera diffusion schedule</c>: a σ-grid fitted to a mixture model's own fine trajectories.</summary>
public sealed class DiffusionScheduleCommand : TesseraCommand<DiffusionScheduleSettings>
{
    public override int Execute(CommandContext context, DiffusionScheduleSettings settings, CancellationToken cancellation)
    {
        settings.Apply();
        var mixture = settings.Mixture is null ? BuiltInProblems.Get(settings.Problem).Mixture : GaussianMixture.Load(settings.Mixture);
        // Fresh noise: seeded by --seed offset away from every built-in evaluation seed.
        var noise = torch.randn([settings.Samples, mixture.Dim], torch.ScalarType.Float64, generator: new torch.Generator((ulong)(settings.Seed + 1_000_000_007)));
        var opts = new ScheduleOptimizerOptions();
        var (target, _) = FlowReference.Solve(mixture, noise, opts.SigmaMax, cancellation: cancellation);
        var (sigmas, error) = ScheduleOptimizer.Optimize(settings.Sampler, mixture.AsDenoiser(), noise * opts.SigmaMax, target, settings.Nfe, opts, cancellation: cancellation);
        SigmaGridFile.Write(settings.Out, sigmas, new Dictionary<string, JsonNode?>
        {
            ["sampler"] = settings.Sampler,
            ["nfe"] = settings.Nfe,
            ["fit_rmse"] = error,
            ["seed"] = settings.Seed,
            ["samples"] = settings.Samples,
        });
        Ui.Result($"grid {SigmaGridFile.Describe(sigmas)}  fit rmse {error.ToString("0.000e+0", CultureInfo.InvariantCulture)}");
        Ui.Result($"wrote {Path.GetFullPath(settings.Out)}");
        return Program.Ok;
    }
}
