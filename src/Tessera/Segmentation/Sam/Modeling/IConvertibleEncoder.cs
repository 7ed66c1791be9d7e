namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>
/// An image encoder whose products can run at a lower precision (<see cref="EncoderPrecision"/>): SAM's ViT, MobileSAM's
/// TinyViT and SAM 2's Hiera with its neck. Each decides which of its weights take the lower type and keeps the rest
/// (positional terms, the neck's normalisations) in float32, and returns its outputs in float32.
/// </summary>
internal interface IConvertibleEncoder
{
    /// <summary>The type the encoder's products run in now (float32 until <see cref="ConvertWeights"/>).</summary>
    torch.ScalarType ComputeType { get; }

    /// <summary>Converts the weights of a float32 encoder, once and in place, for products in <paramref name="type"/>.</summary>
    void ConvertWeights(torch.ScalarType type);
}
