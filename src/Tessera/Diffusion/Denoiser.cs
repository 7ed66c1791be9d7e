namespace Tessera.Diffusion;

/// <summary>
/// The denoiser D(x; σ) of Karras et al. (EDM, eq. 2–3): the network's estimate of the clean data x₀
/// from x = x₀ + σ·ε, in the unscaled (s = 1) coordinates every Tessera sampler works in.
/// </summary>
/// <param name="x">Noisy samples [B, ...].</param>
/// <param name="sigma">Noise level σ, the same for the whole batch.</param>
/// <returns>D(x; σ), the same shape and dtype as <paramref name="x"/>.</returns>
public delegate torch.Tensor Denoiser(torch.Tensor x, double sigma);
