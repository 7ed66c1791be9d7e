namespace Tessera.Diffusion.Networks;

/// <summary>How the U-Net embeds the noise level (<see cref="UNetConfig.FourierEmbedding"/>).</summary>
public enum NoiseEmbedding
{
    /// <summary>The sinusoidal table of the transformer (DDPM++).</summary>
    Sinusoidal,
    /// <summary>Random Fourier features (NCSN++/EDM's FourierEmbedding).</summary>
    Fourier,
}
