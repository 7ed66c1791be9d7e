namespace Tessera.Diffusion;

/// <summary>What a sampler reports at each step (k-diffusion's callback). The tensors live only during the callback: keep a copy with <c>clone().MoveToOuterDisposeScope()</c>.</summary>
/// <param name="Step">Step index i.</param>
/// <param name="Sigma">σᵢ (for EDM's stochastic sampler, σ̂ᵢ after churn).</param>
/// <param name="SigmaNext">σᵢ₊₁.</param>
/// <param name="X">The state at σᵢ when the step starts.</param>
/// <param name="Denoised">D(x; σ) of the step's first evaluation.</param>
public sealed record SamplerStep(int Step, double Sigma, double SigmaNext, torch.Tensor X, torch.Tensor Denoised);
