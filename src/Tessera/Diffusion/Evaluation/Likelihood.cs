using Tessera.Diffusion.Samplers;

namespace Tessera.Diffusion.Evaluation;

/// <summary>How tr(∂D/∂x) is obtained along the ODE.</summary>
public enum DivergenceMethod
{
    /// <summary>Exactly, with one backward pass per dimension (small d).</summary>
    Exact,
    /// <summary>Hutchinson–Skilling: E[εᵀ(∂D/∂x)ε] with one fixed Rademacher ε per sample (images).</summary>
    Hutchinson,
}

/// <summary>Log-likelihood per sample: nats, bits per dimension, and the work it took. It owns its tensors: dispose it.</summary>
/// <param name="LogLikelihood">log p(x; σ_min) per sample [N], in nats.</param>
/// <param name="BitsPerDim">−log p/(d·ln 2) per sample [N].</param>
/// <param name="Evaluations">Denoiser evaluations (each with its divergence).</param>
public sealed record LikelihoodResult(torch.Tensor LogLikelihood, torch.Tensor BitsPerDim, int Evaluations) : IDisposable
{
    /// <summary>Frees both tensors.</summary>
    public void Dispose()
    {
        LogLikelihood.Dispose();
        BitsPerDim.Dispose();
    }
}

/// <summary>
/// Log-likelihood through the probability-flow ODE (Song et al. 2021, §4.3 and App. D.2; Chen et al.
/// 2018 instantaneous change of variables). In u = ln σ the ODE is dx/du = x − D(x; eᵘ) with divergence
/// d − tr ∂D/∂x, so log p(x; σ_min) = log p(x(u_max); σ_max) + ∫ (d − tr ∂D/∂x) du from ln σ_min to ln σ_max.
/// </summary>
public static class Likelihood
{
    /// <summary>Computes log p(x; σ_min) for each row of <paramref name="x"/> [N, ...].</summary>
    /// <param name="model">The denoiser.</param>
    /// <param name="x">Data points at σ_min.</param>
    /// <param name="sigmaMin">Where the data sit.</param>
    /// <param name="sigmaMax">Where the prior is evaluated.</param>
    /// <param name="logPrior">log p(x; σ_max) per row [N] (e.g. a wide Gaussian, or the exact marginal in tests).</param>
    /// <param name="method">Exact or Hutchinson divergence.</param>
    /// <param name="options">ODE tolerances.</param>
    /// <param name="divergence">An exact tr ∂D/∂x per row to use instead of autograd (optional).</param>
    /// <param name="generator">For Hutchinson's probe vectors.</param>
    /// <param name="progress">The fraction of the interval [ln σ_min, ln σ_max] integrated so far, after each evaluation that advances it.</param>
    /// <param name="cancellation">Stops the integration between two evaluations.</param>
    public static LikelihoodResult Compute(Denoiser model, torch.Tensor x, double sigmaMin, double sigmaMax, Func<torch.Tensor, torch.Tensor> logPrior,
        DivergenceMethod method = DivergenceMethod.Exact, Rk45Options? options = null, Func<torch.Tensor, double, torch.Tensor>? divergence = null, torch.Generator? generator = null,
        IProgress<double>? progress = null, CancellationToken cancellation = default)
    {
        long n = x.shape[0];
        long d = x.numel() / n;
        var shape = x.shape;
        using var scope = torch.NewDisposeScope();
        torch.Tensor? probe = method == DivergenceMethod.Hutchinson
            ? torch.randint(0, 2, shape, x.dtype, x.device, generator: generator) * 2 - 1
            : null;

        torch.Tensor Trace(torch.Tensor xs, double sigma)
        {
            if (divergence is not null) return divergence(xs, sigma);
            using var grad = torch.enable_grad();
            var xg = xs.detach().requires_grad_(true);
            var den = model(xg, sigma);
            if (probe is not null)
            {
                var vjp = torch.autograd.grad([(den * probe).sum()], [xg])[0];
                return (vjp * probe).reshape(n, -1).sum(1).detach();
            }
            var flatDen = den.reshape(n, -1);
            var tr = torch.zeros(n, x.dtype, x.device);
            for (long i = 0; i < d; i++)
            {
                var gi = torch.autograd.grad([flatDen[.., i].sum()], [xg], retain_graph: i < d - 1)[0];
                tr = tr + gi.reshape(n, -1)[.., i];
            }
            return tr.detach();
        }

        // State: [x flattened | ℓ] of shape [N, d + 1].
        var y0 = torch.cat([x.reshape(n, -1), torch.zeros(n, 1, x.dtype, x.device)], 1);
        int evals = 0;
        double u0 = Math.Log(sigmaMin), u1 = Math.Log(sigmaMax), reached = 0;
        torch.Tensor F(double u, torch.Tensor y)
        {
            cancellation.ThrowIfCancellationRequested();
            evals++;
            // The solver's stages probe points inside a step: report only how far the integration has come.
            double done = (u - u0) / (u1 - u0);
            if (done > reached)
            {
                reached = Math.Min(done, 1);
                progress?.Report(reached);
            }
            double sigma = Math.Exp(u);
            var xs = y[.., ..(int)d].reshape(shape);
            var den = model(xs, sigma);
            var dx = (xs - den).reshape(n, -1);
            var dl = (d - Trace(xs, sigma)).unsqueeze(1);
            return torch.cat([dx, dl], 1);
        }
        var (yEnd, _) = DormandPrince.Integrate(F, y0, u0, u1, options ?? new Rk45Options(1e-6, 1e-6), (u1 - u0) / 20);
        var xEnd = yEnd[.., ..(int)d].reshape(shape);
        var ll = logPrior(xEnd) + yEnd[.., (int)d];
        var bpd = -ll / (d * Math.Log(2));
        return new LikelihoodResult(ll.MoveToOuterDisposeScope(), bpd.MoveToOuterDisposeScope(), evals);
    }
}
