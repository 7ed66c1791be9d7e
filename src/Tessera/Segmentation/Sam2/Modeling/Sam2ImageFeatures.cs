using Tessera.Segmentation.Sam.Modeling;

namespace Tessera.Segmentation.Sam2.Modeling;

/// <summary>
/// What SAM 2's image predictor keeps of an image (its <c>_features</c>): the image embedding [B, C, h, w] — the
/// backbone's stride-16 level plus <c>no_mem_embed</c> — and the high-resolution levels projected by the decoder's
/// conv_s0 and conv_s1 (stride 4 [B, C/8, 4h, 4w], stride 8 [B, C/4, 2h, 2w]).
/// </summary>
public sealed record Sam2ImageFeatures(torch.Tensor ImageEmbedding, HighResFeatures HighRes) : IDisposable
{
    /// <summary>Number of images.</summary>
    public long Count => ImageEmbedding.shape[0];

    /// <summary>The features of image <paramref name="index"/> as a batch of one (views).</summary>
    public Sam2ImageFeatures Select(long index) => new(
        ImageEmbedding.narrow(0, index, 1), new HighResFeatures(HighRes.S0.narrow(0, index, 1), HighRes.S1.narrow(0, index, 1)));

    /// <summary>Moves the tensors out of the current dispose scope.</summary>
    public Sam2ImageFeatures MoveToOuterDisposeScope()
    {
        ImageEmbedding.MoveToOuterDisposeScope();
        HighRes.S0.MoveToOuterDisposeScope();
        HighRes.S1.MoveToOuterDisposeScope();
        return this;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        ImageEmbedding.Dispose();
        HighRes.S0.Dispose();
        HighRes.S1.Dispose();
    }
}
