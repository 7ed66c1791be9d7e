using System.ComponentModel;
using System.Globalization;
using System.Text.Json.Nodes;
using Spectre.Console;
using Spectre.Console.Cli;
using Tessera.Cli.Infrastructure;
using Tessera.Diffusion.Analytic;
using Tessera.Diffusion.Samplers;
using Tessera.Diffusion.Sampling;
using Tessera.Diffusion.Training;
using TorchSharp;

namespace Tessera.Cli.Commands;

/// <summary>Options of <c>tessera diffusion schedule</c>.</summary>
public sealed class DiffusionScheduleSettings : GlobalSettings
{
    /// <summary>--problem</summary>
    [CommandOption("--problem <NAME>")]
    [Description("Built-in mixture: ring, mixture64, mixture16 or multiscale32. Default ring.")]
    public string Problem { get; init; } = "ring";

    /// <summary>--mixture</summary>
    [CommandOption("--mixture <FILE>")]
    [Description("Mixture JSON (dim, weights, stds, means) instead of --problem.")]
    public string? Mixture { get; init; }

    /// <summary>--checkpoint</summary>
    [CommandOption("--checkpoint <FILE>")]
    [Description("A trained model (checkpoint.safetensors of tessera diffusion train) instead of a mixture: the grid is fitted to its own fine trajectories from fresh noise.")]
    public string? Checkpoint { get; init; }

    /// <summary>--fine-steps</summary>
    [CommandOption("--fine-steps <N>")]
    [Description("With --checkpoint: Karras steps of the fine Heun solution the grid is fitted to (2N − 1 evaluations). Default 64.")]
    public int FineSteps { get; init; } = 64;

    /// <summary>--guidance</summary>
    [CommandOption("--guidance <W>")]
    [Description("With --checkpoint: classifier-free guidance scale of a conditional model (labels cycle over the classes). Default 1.")]
    public double Guidance { get; init; } = 1;

    /// <summary>--sweeps</summary>
    [CommandOption("--sweeps <N>")]
    [Description("Most coordinate sweeps of the optimiser (each tries every interior σ up and down). Default 12.")]
    public int Sweeps { get; init; } = 12;

    /// <summary>--nfe</summary>
    [CommandOption("--nfe <N>")]
    [Description("Steps of the grid (= evaluations for one-call-per-step samplers). Default 10.")]
    public int Nfe { get; init; } = 10;

    /// <summary>--sampler</summary>
    [CommandOption("--sampler <NAME>")]
    [Description("Deterministic sampler with one evaluation per step: dpmpp_2m, dpmpp_3m, unipc, unipc_bh1, deis, ipndm, euler, lms, ddim. Default unipc.")]
    public string Sampler { get; init; } = "unipc";

    /// <summary>--samples</summary>
    [CommandOption("--samples <N>")]
    [Description("Fresh noises the grid is fitted on (drawn from --seed, never the analytic bed's evaluation noise). Default 256.")]
    public int Samples { get; init; } = 256;

    /// <summary>--out</summary>
    [CommandOption("--out <FILE>")]
    [Description("Grid file to write (JSON with 'sigmas'). Default grid.json.")]
    public string Out { get; init; } = "grid.json";

    /// <inheritdoc />
    public override ValidationResult Validate()
    {
        string[] ok = ["dpmpp_2m", "dpmpp_3m", "unipc", "unipc_bh1", "deis", "ipndm", "euler", "lms", "ddim"];
        if (!ok.Contains(Sampler)) return ValidationResult.Error($"--sampler: '{Sampler}'; expected one of {string.Join(", ", ok)}");
        if (Nfe < 2) return ValidationResult.Error($"--nfe: {Nfe}; expected at least 2");
        if (Samples < 2) return ValidationResult.Error($"--samples: {Samples}; expected at least 2");
        if (FineSteps < 2) return ValidationResult.Error($"--fine-steps: {FineSteps}; expected at least 2");
        if (Sweeps < 0) return ValidationResult.Error($"--sweeps: {Sweeps}; expected 0 or more");
        if (Checkpoint is not null && Mixture is not null) return ValidationResult.Error("--checkpoint: give either a trained model or --mixture, not both");
        if (!BuiltInProblems.Names.Contains(Problem)) return ValidationResult.Error($"--problem: unknown problem '{Problem}'; expected one of {string.Join(", ", BuiltInProblems.Names)}");
        return base.Validate();
    }
}

/// <summary><c>tessera diffusion schedule</c>: a σ-grid fitted to a mixture's or a trained model's own fine trajectories.</summary>
public sealed class DiffusionScheduleCommand : TesseraCommand<DiffusionScheduleSettings>
{
    /// <inheritdoc />
    public override int Execute(CommandContext context, DiffusionScheduleSettings settings, CancellationToken cancellation)
    {
        var device = settings.Apply();
        if (settings.Checkpoint is not null) return FromModel(settings, device, cancellation);
        var mixture = settings.Mixture is null ? BuiltInProblems.Get(settings.Problem).Mixture : GaussianMixture.Load(settings.Mixture);
        // Fresh noise: seeded by --seed offset away from every built-in evaluation seed.
        var noise = torch.randn([settings.Samples, mixture.Dim], torch.ScalarType.Float64, generator: new torch.Generator((ulong)(settings.Seed + 1_000_000_007)));
        // Start from the best of 25 Karras/exponential grids on the fitting noise, then coordinate descent in log σ.
        var opts = new ScheduleOptimizerOptions(Sweeps: settings.Sweeps, SearchStart: true);
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

    /// <summary>A grid fitted to a trained model's own fine trajectories.</summary>
    private int FromModel(DiffusionScheduleSettings settings, torch.Device device, CancellationToken cancellation)
    {
        using var model = DiffusionModel.Load(settings.Checkpoint!);
        model.to(device);
        var o = new ModelScheduleOptions(settings.Samples, settings.Seed, settings.FineSteps, settings.Guidance, settings.Sweeps);
        var r = ModelSchedule.Fit(model, settings.Sampler, settings.Nfe, o, device, cancellation);
        SigmaGridFile.Write(settings.Out, r.Sigmas, new Dictionary<string, JsonNode?>
        {
            ["sampler"] = settings.Sampler,
            ["nfe"] = settings.Nfe,
            ["fit_rmse"] = r.Error,
            ["karras_rmse"] = r.KarrasError,
            ["checkpoint"] = Path.GetFileName(settings.Checkpoint),
            ["fine_steps"] = settings.FineSteps,
            ["guidance"] = settings.Guidance,
            ["seed"] = settings.Seed,
            ["samples"] = settings.Samples,
        });
        string F(double v) => v.ToString("0.000e+0", CultureInfo.InvariantCulture);
        Ui.Result($"grid {SigmaGridFile.Describe(r.Sigmas)}  fit rmse {F(r.Error)} (Karras grid {F(r.KarrasError)})");
        Ui.Result($"wrote {Path.GetFullPath(settings.Out)}");
        return Program.Ok;
    }
}
