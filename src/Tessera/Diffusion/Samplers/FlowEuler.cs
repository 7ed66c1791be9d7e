using Tessera.Diffusion.Grids;

namespace Tessera.Diffusion.Samplers;

/// <summary>
/// Euler on the rectified-flow ODE dz/dt = u(z, t) (Liu et al. 2022), in the flow's own coordinates
/// z = (1 − t)·x₀ + t·ε, for a velocity model u ≈ ε − x₀. A σ-grid maps to t = σ/(1 + σ) and z = x/(1 + σ).
/// </summary>
public static class FlowEuler
{
    /// <summary>Samples with a velocity model along the t-values of the σ-grid; returns the state in EDM coordinates (z = x at t = 0).</summary>
    public static torch.Tensor Sample(Func<torch.Tensor, double, torch.Tensor> velocity, torch.Tensor x, IReadOnlyList<double> sigmas)
    {
        SigmaGrids.Check(sigmas);
        double t0 = sigmas[0] / (1 + sigmas[0]);
        var z = x.Over(1 + sigmas[0]);
        double t = t0;
        for (int i = 0; i < sigmas.Count - 1; i++)
        {
            using var scope = torch.NewDisposeScope();
            double tn = sigmas[i + 1] / (1 + sigmas[i + 1]);
            // z_{i+1} = z_i + (t_{i+1} − t_i)·u(z_i, t_i)
            var next = z.Plus(velocity(z, t).Times(tn - t));
            z.Dispose();
            z = next.MoveToOuterDisposeScope();
            t = tn;
        }
        double last = sigmas[^1];
        var result = z.Times(1 + last);
        z.Dispose();
        return result;
    }
}
