namespace Tessera.Segmentation.Sam2.Video;

/// <summary>
/// Masks of every object on one frame at the video's resolution: logits [N, 1, H, W] (a pixel belongs to the object
/// where its logit is positive; −1024 everywhere for an object without an output on the frame), the object ids in the
/// same order, and each object's object-score logit (NaN without an output). Owns its tensor.
/// </summary>
public sealed record Sam2VideoFrameResult(int FrameIndex, IReadOnlyList<int> ObjectIds, torch.Tensor MaskLogits, IReadOnlyList<float> ObjectScores) : IDisposable
{
    /// <inheritdoc />
    public void Dispose() => MaskLogits.Dispose();

    /// <summary>Moves the mask tensor out of the current dispose scope.</summary>
    internal Sam2VideoFrameResult MoveOut()
    {
        MaskLogits.MoveToOuterDisposeScope();
        return this;
    }
}
