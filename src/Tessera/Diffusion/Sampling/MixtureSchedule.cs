using Tessera.Diffusion.Analytic;
using Tessera.Diffusion.Samplers;
using TorchSharp;

namespace Tessera.Diffusion.Sampling;

/// <summary>
/// A σ-grid fitted to a Gaussian mixture's own probability-flow trajectories: fresh, seeded noise (never the analytic test
/// bed's evaluation noise), converged reference solutions by <see cref="FlowReference"/>, then <see cref="ScheduleOptimizer"/>
/// from the best of its starting grids (the mixture counterpart of <see cref="ModelSchedule"/>).
/// </summary>
public static class MixtureSchedule
{
    /// <summary>Fits an <paramref name="nfe"/>-step grid for <paramref name="sampler"/> on <paramref name="samples"/> noises drawn from seed + 1,000,000,007.</summary>
    public static (double[] Sigmas, double Error) Fit(GaussianMixture mixture, string sampler, int nfe, int samples, long seed, int sweeps = 12, CancellationToken cancellation = default)
    {
        using var scope = torch.NewDisposeScope();
        var noise = torch.randn([samples, mixture.Dim], torch.ScalarType.Float64, generator: new torch.Generator((ulong)(seed + 1_000_000_007)));
        var opts = new ScheduleOptimizerOptions(Sweeps: sweeps, SearchStart: true);
        var (target, _) = FlowReference.Solve(mixture, noise, opts.SigmaMax, cancellation: cancellation);
        return ScheduleOptimizer.Optimize(sampler, mixture.AsDenoiser(), noise * opts.SigmaMax, target, nfe, opts, cancellation: cancellation);
    }
}
