using Tessera.Runtime;

namespace Tessera.Segmentation.Sam2.Video;

/// <summary>
/// What tracking keeps of one object on one frame (the official predictor's compact per-frame output): the memory
/// features (stored in bfloat16 as the official predictor stores them; null until the memory encoder has run), the
/// low-resolution mask logits [1, 1, S/4, S/4], the object pointer [1, C] and the object-score logit [1, 1].
/// Owns its tensors.
/// </summary>
public sealed class Sam2FrameOutput : IDisposable
{
    internal Sam2FrameOutput(torch.Tensor? memoryFeatures, torch.Tensor maskLogits, torch.Tensor objectPointer, torch.Tensor objectScoreLogits)
    {
        MemoryFeatures = memoryFeatures;
        MaskLogits = maskLogits;
        ObjectPointer = objectPointer;
        ObjectScoreLogits = objectScoreLogits;
    }

    /// <summary>Memory features [1, C_mem, h, w] (bfloat16), or null when not encoded yet.</summary>
    public torch.Tensor? MemoryFeatures { get; internal set; }
    /// <summary>Low-resolution mask logits [1, 1, S/4, S/4].</summary>
    public torch.Tensor MaskLogits { get; private set; }
    /// <summary>The object pointer [1, C].</summary>
    public torch.Tensor ObjectPointer { get; }
    /// <summary>The object-score logit [1, 1] (positive: the object is in the frame).</summary>
    public torch.Tensor ObjectScoreLogits { get; }

    /// <summary>
    /// Moves the large tensors (memory features, mask logits) to <paramref name="storage"/>, where the state keeps them
    /// (the official <c>storage_device</c>); the object pointer and score stay where they are, as upstream keeps them.
    /// </summary>
    internal Sam2FrameOutput StoreOn(torch.Device storage)
    {
        MaskLogits = TensorPlacement.MoveTo(MaskLogits, storage);
        if (MemoryFeatures is { } m) MemoryFeatures = TensorPlacement.MoveTo(m, storage);
        return this;
    }

    /// <summary>Takes the tensors out of any dispose scope (the output is kept across calls).</summary>
    internal Sam2FrameOutput Detach()
    {
        MemoryFeatures?.DetachFromDisposeScope();
        MaskLogits.DetachFromDisposeScope();
        ObjectPointer.DetachFromDisposeScope();
        ObjectScoreLogits.DetachFromDisposeScope();
        return this;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        MemoryFeatures?.Dispose();
        MaskLogits.Dispose();
        ObjectPointer.Dispose();
        ObjectScoreLogits.Dispose();
    }
}
