namespace Tessera.Diffusion;

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
