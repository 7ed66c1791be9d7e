using Tessera.Diffusion.Grids;

namespace Tessera.Diffusion.Samplers;

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

    /// <summary>
    /// The loop every sampler shares: for each step i from σᵢ to σᵢ₊₁, <paramref name="step"/>(i, x, σᵢ, σᵢ₊₁) returns
    /// the next state inside a dispose scope (so a step's temporaries are freed at once); the previous state is
    /// disposed. Tensors a step keeps for later (multistep history) must be moved out of the scope by the step.
    /// </summary>
    public static torch.Tensor Loop(torch.Tensor x, IReadOnlyList<double> sigmas, Func<int, torch.Tensor, double, double, torch.Tensor> step)
    {
        SigmaGrids.Check(sigmas);
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
}
