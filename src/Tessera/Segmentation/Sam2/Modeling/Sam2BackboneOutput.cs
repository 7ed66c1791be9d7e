namespace Tessera.Segmentation.Sam2.Modeling;

/// <summary>
/// What SAM 2's image encoder gives for a batch (the official <c>ImageEncoder.forward</c> dictionary): the feature
/// pyramid after the scalp, highest resolution first — with the released models [B, 256, L/4], [B, 256, L/8] and
/// [B, 256, L/16] for L × L images — and their sine position encodings. Owns its tensors.
/// </summary>
/// <param name="BackboneFpn">The pyramid levels [B, d_model, Hᵢ, Wᵢ] (the official <c>backbone_fpn</c>).</param>
/// <param name="PositionEncodings">Their position encodings, same shapes (<c>vision_pos_enc</c>).</param>
public sealed record Sam2BackboneOutput(IReadOnlyList<torch.Tensor> BackboneFpn, IReadOnlyList<torch.Tensor> PositionEncodings) : IDisposable
{
    /// <summary>The lowest-resolution level, the image embedding the mask decoder and memory attention read (<c>vision_features</c>).</summary>
    public torch.Tensor VisionFeatures => BackboneFpn[^1];

    /// <summary>Disposes every tensor.</summary>
    public void Dispose()
    {
        foreach (var t in BackboneFpn.Concat(PositionEncodings)) t.Dispose();
    }
}
