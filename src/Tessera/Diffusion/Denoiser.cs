using TorchSharp;

namespace Tessera.Diffusion;

/// <summary>
/// The denoiser D(x; σ) of Karras et al. (EDM, eq. 2–3): the network's estimate of the clean data x₀
/// from x = x₀ + σ·ε, in the unscaled (s = 1) coordinates every Tessera sampler works in.
/// </summary>
/// <param name="x">Noisy samples [B, ...].</param>
/// <param name="sigma">Noise level σ, the same for the whole batch.</param>
/// <returns>D(x; σ), the same shape and dtype as <paramref name="x"/>.</returns>
public delegate torch.Tensor Denoiser(torch.Tensor x, double sigma);

/// <summary>Wraps a denoiser and counts its evaluations (NFE).</summary>
public sealed class CountingDenoiser(Denoiser inner)
{
    /// <summary>Network function evaluations so far.</summary>
    public int Evaluations { get; private set; }

    /// <summary>Every (σ) the denoiser was called at, in order.</summary>
    public List<double> Sigmas { get; } = [];

    /// <summary>Evaluates and counts.</summary>
    public torch.Tensor Evaluate(torch.Tensor x, double sigma)
    {
        Evaluations++;
        Sigmas.Add(sigma);
        return inner(x, sigma);
    }

    /// <summary>The counting denoiser as a <see cref="Denoiser"/>.</summary>
    public Denoiser AsDenoiser() => Evaluate;
}

/// <summary>What a sampler reports at each step (k-diffusion's callback). The tensors live only during the callback: keep a copy with <c>clone().MoveToOuterDisposeScope()</c>.</summary>
/// <param name="Step">Step index i.</param>
/// <param name="Sigma">σᵢ (for EDM's stochastic sampler, σ̂ᵢ after churn).</param>
/// <param name="SigmaNext">σᵢ₊₁.</param>
/// <param name="X">The state at σᵢ when the step starts.</param>
/// <param name="Denoised">D(x; σ) of the step's first evaluation.</param>
public sealed record SamplerStep(int Step, double Sigma, double SigmaNext, torch.Tensor X, torch.Tensor Denoised);

/// <summary>Helpers shared by the samplers.</summary>
internal static class SamplerMath
{
    /// <summary>The probability-flow ODE slope dx/dσ = (x − D)/σ (EDM eq. 3 with s = 1, σ = t).</summary>
    public static torch.Tensor ToD(torch.Tensor x, double sigma, torch.Tensor denoised) => (x - denoised).Over(sigma);

    /// <summary>
    /// Ancestral split of a step σ → σₙ (k-diffusion get_ancestral_step; DDIM's σ_t(η) in EDM coordinates):
    /// σ_up = min(σₙ, η·√(σₙ²(σ² − σₙ²)/σ²)), σ_down = √(σₙ² − σ_up²).
    /// </summary>
    public static (double Down, double Up) AncestralStep(double sigma, double sigmaNext, double eta = 1)
    {
        if (eta == 0 || sigmaNext == 0) return (sigmaNext, 0);
        double up = Math.Min(sigmaNext, eta * Math.Sqrt(sigmaNext * sigmaNext * (sigma * sigma - sigmaNext * sigmaNext) / (sigma * sigma)));
        return (Math.Sqrt(sigmaNext * sigmaNext - up * up), up);
    }

    /// <summary>exp(x) − 1 without cancellation for small x (Kahan's method; .NET's double.ExpM1 is exp(x) − 1).</summary>
    public static double Expm1(double x)
    {
        double u = Math.Exp(x);
        if (u == 1.0) return x;
        double um1 = u - 1.0;
        if (um1 == -1.0) return -1.0;
        if (double.IsPositiveInfinity(u)) return u;
        return um1 * x / Math.Log(u);
    }

    /// <summary>
    /// The loop every sampler shares: for each step i from σᵢ to σᵢ₊₁, <paramref name="step"/>(i, x, σᵢ, σᵢ₊₁) returns
    /// the next state inside a dispose scope (so a step's temporaries are freed at once); the previous state is
    /// disposed. Tensors a step keeps for later (multistep history) must be moved out of the scope by the step.
    /// </summary>
    public static torch.Tensor Loop(torch.Tensor x, IReadOnlyList<double> sigmas, Func<int, torch.Tensor, double, double, torch.Tensor> step)
    {
        CheckGrid(sigmas);
        var cur = x.alias();
        for (int i = 0; i < sigmas.Count - 1; i++)
        {
            using var scope = torch.NewDisposeScope();
            var next = step(i, cur, sigmas[i], sigmas[i + 1]);
            cur.Dispose();
            cur = next.MoveToOuterDisposeScope();
        }
        return cur;
    }

    /// <summary>
    /// <see cref="Loop(torch.Tensor, IReadOnlyList{double}, Func{int, torch.Tensor, double, double, torch.Tensor})"/> for
    /// the samplers that start each step from D(x_i; σ_i): evaluates it, reports the step to <paramref name="callback"/>,
    /// and passes it to <paramref name="step"/> as its last argument.
    /// </summary>
    public static torch.Tensor Loop(Denoiser model, torch.Tensor x, IReadOnlyList<double> sigmas, Action<SamplerStep>? callback,
        Func<int, torch.Tensor, double, double, torch.Tensor, torch.Tensor> step) =>
        Loop(x, sigmas, (i, cur, s, sn) =>
        {
            var denoised = model(cur, s);
            callback?.Invoke(new SamplerStep(i, s, sn, cur, denoised));
            return step(i, cur, s, sn, denoised);
        });

    /// <summary>Checks a σ-grid: at least two values, finite, non-increasing, non-negative.</summary>
    public static void CheckGrid(IReadOnlyList<double> sigmas)
    {
        if (sigmas.Count < 2) throw new ArgumentException("a σ-grid needs at least two values (one step)", nameof(sigmas));
        for (int i = 0; i < sigmas.Count; i++)
        {
            if (!double.IsFinite(sigmas[i]) || sigmas[i] < 0) throw new ArgumentException($"σ[{i}] = {sigmas[i]} is not a finite non-negative number", nameof(sigmas));
            if (i > 0 && sigmas[i] > sigmas[i - 1]) throw new ArgumentException($"σ-grid must not increase: σ[{i}] = {sigmas[i]} > σ[{i - 1}] = {sigmas[i - 1]}", nameof(sigmas));
        }
    }
}
