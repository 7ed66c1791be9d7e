using Tessera.Diffusion.Analytic;
using Tessera.Diffusion.Samplers;

namespace Tessera.Diffusion.Sampling;

/// <summary>
/// A σ-grid fitted to a Gaussian mixture's own probability-flow trajectories: fresh, seeded noise (never the analytic test
/// bed's evaluation noise), their converged probability-flow trajectories through <see cref="FineIntervals"/> log-uniform
/// σ's from σ_max to <see cref="FineSigmaMin"/> and then to 0 (<see cref="FlowReference.Trajectory"/>), then
/// <see cref="ScheduleOptimizer"/> from the best of GITS' dynamic-programming grid and the standard starting grids
/// (the mixture counterpart of <see cref="ModelSchedule"/>).
/// </summary>
public static class MixtureSchedule
{
    /// <summary>Fine log-uniform intervals of the teacher trajectory (the dynamic programme's resolution).</summary>
    public const int FineIntervals = 160;

    /// <summary>Smallest non-zero σ of the teacher's fine grid.</summary>
    public const double FineSigmaMin = 1e-3;

    /// <summary>The teacher: converged trajectories from σ_max·<paramref name="noise"/> through the fine grid.</summary>
    public static TeacherTrajectory Teacher(GaussianMixture mixture, torch.Tensor noise, double sigmaMax = 80, CancellationToken cancellation = default)
    {
        var sigmas = TeacherTrajectory.LogUniformGrid(FineIntervals, FineSigmaMin, sigmaMax);
        return new TeacherTrajectory(sigmas, FlowReference.Trajectory(mixture, noise, sigmas, cancellation: cancellation));
    }

    /// <summary>Fits an <paramref name="nfe"/>-step grid for <paramref name="sampler"/> on <paramref name="samples"/> noises drawn from seed + 1,000,000,007.</summary>
    /// <exception cref="TesseraUserException">Fewer than 2 or more than <see cref="FineIntervals"/> + 1 steps.</exception>
    public static (double[] Sigmas, double Error) Fit(GaussianMixture mixture, string sampler, int nfe, int samples, long seed, int sweeps = 12, CancellationToken cancellation = default)
    {
        if (nfe < 2 || nfe > FineIntervals + 1) throw new TesseraUserException(nameof(nfe), $"{nfe}; expected 2 to {FineIntervals + 1} (the teacher's fine steps)");
        using var scope = torch.NewDisposeScope();
        var noise = torch.randn([samples, mixture.Dim], torch.ScalarType.Float64, generator: new torch.Generator((ulong)(seed + 1_000_000_007)));
        var opts = new ScheduleOptimizerOptions(Sweeps: sweeps, SearchStart: true);
        using var teacher = Teacher(mixture, noise, opts.SigmaMax, cancellation);
        return ScheduleOptimizer.Optimize(sampler, mixture.AsDenoiser(), teacher, nfe, opts, cancellation: cancellation);
    }
}
