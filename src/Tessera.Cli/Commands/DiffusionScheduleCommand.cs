using System.Text.Json.Nodes;
using Tessera.Diffusion.Analytic;
using Tessera.Diffusion.Grids;
using Tessera.Diffusion.Models;
using Tessera.Diffusion.Sampling;

namespace Tessera.Cli.Commands;

/// <summary>Options of <c>tessera diffusion schedule</c>.</summary>
public sealed class DiffusionScheduleSettings : GlobalSettings
{
    [CommandOption("--problem <NAME>"), Description("Built-in mixture: ring, mixture64, mixture16 or multiscale32. Default ring.")] public string Problem { get; init; } = "ring";
    [CommandOption("--mixture <FILE>"), Description("Mixture JSON (dim, weights, stds, means) instead of --problem.")] public string? Mixture { get; init; }
    [CommandOption("--checkpoint <FILE>"), Description("A trained model (checkpoint.safetensors of tessera diffusion train) instead of a mixture: the grid is fitted to its own fine trajectories from fresh noise.")] public string? Checkpoint { get; init; }
    [CommandOption("--fine-steps <N>"), Description("With --checkpoint: log-uniform steps from σ_max to σ_min of the fine Heun trajectory the grid is fitted to (then one step to 0; 2N + 1 evaluations, and at most N + 1 for --nfe). Default 64.")] public int FineSteps { get; init; } = 64;
    [CommandOption("--guidance <W>"), Description("With --checkpoint: classifier-free guidance scale of a conditional model (labels cycle over the classes). Default 1.")] public double Guidance { get; init; } = 1;
    [CommandOption("--sweeps <N>"), Description("Most coordinate sweeps of the optimiser (each tries every interior σ up and down). Default 12.")] public int Sweeps { get; init; } = 12;
    [CommandOption("--nfe <N>"), Description("Steps of the grid (= evaluations for one-call-per-step samplers). Default 10.")] public int Nfe { get; init; } = 10;
    [CommandOption("--sampler <NAME>"), Description("Deterministic sampler with one evaluation per step: dpmpp_2m, dpmpp_3m, unipc, unipc_bh1, deis, ipndm, euler, lms, ddim. Default unipc.")] public string Sampler { get; init; } = "unipc";
    [CommandOption("--samples <N>"), Description("Fresh noises the grid is fitted on (drawn from --seed, never the analytic bed's evaluation noise). Default 256.")] public int Samples { get; init; } = 256;
    [CommandOption("--output|--out <FILE>"), Description("Grid file to write (JSON with 'sigmas'). Default grid.json.")] public string Out { get; init; } = "grid.json";

    public override ValidationResult Validate()
    {
        ScheduleOptimizer.CheckSampler(Sampler, "--sampler");
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
    public override int Execute(CommandContext context, DiffusionScheduleSettings settings, CancellationToken cancellation)
    {
        var device = settings.Apply();
        var meta = new Dictionary<string, JsonNode?> { ["sampler"] = settings.Sampler, ["nfe"] = settings.Nfe };
        double[] sigmas; double error; string karras = "";
        if (settings.Checkpoint is not null)
        {
            using var model = DiffusionModel.Load(settings.Checkpoint, device);
            var r = ModelSchedule.Fit(model, settings.Sampler, settings.Nfe, new ModelScheduleOptions(settings.Samples, settings.Seed, settings.FineSteps, settings.Guidance, settings.Sweeps), device, cancellation);
            (sigmas, error) = (r.Sigmas, r.Error);
            karras = $" (Karras grid {F(r.KarrasError)})";
            meta["karras_rmse"] = r.KarrasError; meta["checkpoint"] = Path.GetFileName(settings.Checkpoint); meta["fine_steps"] = settings.FineSteps; meta["guidance"] = settings.Guidance;
        }
        else
        {
            var mixture = settings.Mixture is null ? BuiltInProblems.Get(settings.Problem).Mixture : GaussianMixture.Load(settings.Mixture);
            (sigmas, error) = MixtureSchedule.Fit(mixture, settings.Sampler, settings.Nfe, settings.Samples, settings.Seed, settings.Sweeps, cancellation);
        }
        meta["fit_rmse"] = error; meta["seed"] = settings.Seed; meta["samples"] = settings.Samples;
        SigmaGridFile.Write(settings.Out, sigmas, meta);
        Ui.Result($"grid {SigmaGridFile.Describe(sigmas)}  fit rmse {F(error)}{karras}");
        Ui.Result($"wrote {Path.GetFullPath(settings.Out)}");
        return Program.Ok;
    }

    private static string F(double v) => v.ToString("0.000e+0", CultureInfo.InvariantCulture);
}
