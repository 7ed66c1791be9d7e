using Tessera.Segmentation.Sam.Modeling;

namespace Tessera.Segmentation.Sam2.Video;

/// <summary>
/// A frame's image features as tracking reads them (the official <c>_get_image_feature</c>): the stride-16 level
/// [1, C, h, w] and its position encoding, and the stride-4 and stride-8 levels projected by the decoder's conv_s0 and
/// conv_s1. Owns its tensors.
/// </summary>
public sealed class Sam2FrameFeatures(torch.Tensor features, torch.Tensor position, HighResFeatures highRes) : IDisposable
{
    /// <summary>The stride-16 features [1, C, h, w] (vision_feats[-1]).</summary>
    public torch.Tensor Features { get; } = features;
    /// <summary>Their position encoding [1, C, h, w].</summary>
    public torch.Tensor Position { get; } = position;
    /// <summary>The projected high-resolution levels.</summary>
    public HighResFeatures HighRes { get; } = highRes;

    /// <inheritdoc />
    public void Dispose()
    {
        Features.Dispose();
        Position.Dispose();
        HighRes.S0.Dispose();
        HighRes.S1.Dispose();
    }
}
