using Tessera.Diffusion.Grids;
using Tessera.Diffusion.Models;
using Tessera.Diffusion.Samplers;
using Tessera.Diffusion.Training;

namespace Tessera.Diffusion.Sampling;

/// <summary>How <see cref="ModelSchedule.Fit"/> fits a grid to a trained model.</summary>
/// <param name="Samples">Fresh noises the grid is fitted on.</param>
/// <param name="Seed">Seed of that noise; it is drawn from seed + 1,000,000,007 so it never equals the per-seed noise of sampling from the same seed.</param>
/// <param name="FineSteps">
/// Steps of the fine solution: Heun (2·FineSteps + 1 evaluations) on FineSteps log-uniform steps from σ_max to σ_min and
/// one more to 0 (<see cref="ModelSchedule.Teacher"/>).
/// </param>
/// <param name="Guidance">Classifier-free guidance scale of conditional models (their labels cycle over the classes).</param>
/// <param name="Sweeps">Most coordinate sweeps of <see cref="ScheduleOptimizer"/>.</param>
public sealed record ModelScheduleOptions(int Samples = 64, long Seed = 0, int FineSteps = 64, double Guidance = 1, int Sweeps = 12);

/// <summary>A fitted grid and how it did on its fitting noise.</summary>
/// <param name="Sigmas">The grid (nfe + 1 values, the last 0).</param>
/// <param name="Error">RMS error of the sampler down <see cref="Sigmas"/> against the fine solution.</param>
/// <param name="KarrasError">The same for the Karras grid of as many steps (the optimiser's start).</param>
public sealed record ModelScheduleResult(double[] Sigmas, double Error, double KarrasError);

/// <summary>
/// A σ-grid fitted to a trained model from the model alone: fine probability-flow solutions from fresh, seeded noise
/// (Heun on a fine log-uniform grid — the model's own trajectories, no data), GITS' dynamic programming over that fine
/// grid for a start (Chen et al. 2024), then <see cref="ScheduleOptimizer"/> moves the grid's interior log σ to lower the
/// sampler's error against the fine solutions (the approach of "Align Your Steps", Sabour et al. 2024).
/// </summary>
public static class ModelSchedule
{
    /// <summary>The fitting points: x(σ_max) = σ_max·ε [M, C, H, W] (float64) from the fresh noise, and their fine solutions at σ = 0 (the ends of <see cref="Teacher"/>).</summary>
    public static (torch.Tensor Start, torch.Tensor Target) FineSolutions(DiffusionModel model, ModelScheduleOptions o, torch.Device device, CancellationToken cancellation = default)
    {
        using var teacher = Teacher(model, o, device, cancellation);
        return (teacher.Start.clone(), teacher.Target.clone());
    }

    /// <summary>
    /// The teacher of <see cref="Fit"/>: Heun, one step per interval, on <see cref="ModelScheduleOptions.FineSteps"/>
    /// log-uniform steps from σ_max to σ_min and one more to 0, from x(σ_max) = σ_max·ε (float64) of the fresh noise.
    /// </summary>
    public static TeacherTrajectory Teacher(DiffusionModel model, ModelScheduleOptions o, torch.Device device, CancellationToken cancellation = default)
    {
        var c = model.Config;
        var (sMin, sMax) = c.SigmaRange;
        model.eval();
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var eps = torch.randn([o.Samples, c.Channels, c.ImageSize, c.ImageSize], torch.ScalarType.Float64, generator: new torch.Generator((ulong)(o.Seed + 1_000_000_007))).to(device);
        return TeacherTrajectory.FromSolver("heun", Denoiser(model, o, device), eps * sMax, TeacherTrajectory.LogUniformGrid(o.FineSteps, sMin, sMax), cancellation);
    }

    /// <summary>Fits an <paramref name="nfe"/>-step grid for <paramref name="sampler"/> (one evaluation per step) to <paramref name="model"/>.</summary>
    /// <exception cref="TesseraUserException">Fewer than 2 samples, steps or fine steps (parameter named).</exception>
    public static ModelScheduleResult Fit(DiffusionModel model, string sampler, int nfe, ModelScheduleOptions o, torch.Device device, CancellationToken cancellation = default)
    {
        if (o.Samples < 2) throw new TesseraUserException(nameof(o.Samples), $"{o.Samples}; expected at least 2");
        if (o.FineSteps < 2) throw new TesseraUserException(nameof(o.FineSteps), $"{o.FineSteps}; expected at least 2");
        if (nfe < 2) throw new TesseraUserException(nameof(nfe), $"{nfe}; expected at least 2");
        var (sMin, sMax) = model.Config.SigmaRange;
        if (nfe > o.FineSteps + 1) throw new TesseraUserException(nameof(nfe), $"{nfe}; expected at most {o.FineSteps + 1} (the fine steps + 1)");
        using var teacher = Teacher(model, o, device, cancellation);
        using (torch.no_grad())
        {
            var denoiser = Denoiser(model, o, device);
            // The grid stays within the noise levels the model was made for: its last non-zero σ at least σ_min.
            var opts = new ScheduleOptimizerOptions(sMin, sMax, o.Sweeps, SearchStart: true, Floor: sMin * (1 - 1e-12));
            double karras;
            using (var scope = torch.NewDisposeScope())
            {
                var x = SamplerRegistry.Sample(sampler, denoiser, teacher.Start, SigmaGrids.Karras(nfe, sMin, sMax), new GeneratorNoise(0));
                karras = (x - teacher.Target).square().mean().sqrt().item<double>();
            }
            var (sigmas, error) = ScheduleOptimizer.Optimize(sampler, denoiser, teacher, nfe, opts, cancellation: cancellation);
            return new ModelScheduleResult(sigmas, error, karras);
        }
    }

    /// <summary>
    /// The model as a float64 denoiser (the network runs in its own precision; the sampler arithmetic and the errors are
    /// float64), conditional models with labels 0, 1, … cycling over the classes.
    /// </summary>
    public static Denoiser Denoiser(DiffusionModel model, ModelScheduleOptions o, torch.Device device)
    {
        int classes = model.Config.Classes;
        var labels = classes > 0 ? torch.arange(o.Samples, device: device).remainder(classes).DetachFromDisposeScope() : null;
        var net = model.AsDenoiser(labels, o.Guidance);
        return (x, sigma) =>
        {
            using var scope = torch.NewDisposeScope();
            return net(x.to(torch.ScalarType.Float32), sigma).to(torch.ScalarType.Float64).MoveToOuterDisposeScope();
        };
    }
}
