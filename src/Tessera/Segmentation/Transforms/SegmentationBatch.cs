namespace Tessera.Segmentation.Transforms;

/// <summary>One batch from <see cref="SegmentationLoader"/>; the consumer owns (and disposes) its tensors.</summary>
/// <param name="Step">The step (batch number) it belongs to.</param>
/// <param name="Images">Normalised images, float32 [N, 3, H, W].</param>
/// <param name="Labels">Labels, int64 [N, H, W], 255 ignored (padding too).</param>
/// <param name="Indices">The dataset index of each sample.</param>
public sealed record SegmentationBatch(long Step, torch.Tensor Images, torch.Tensor Labels, int[] Indices) : IDisposable
{
    /// <summary>Which part of the step's batch it is (<see cref="LoaderOptions.Parts"/>; 0 for a whole batch).</summary>
    public int Part { get; init; }

    /// <inheritdoc />
    public void Dispose()
    {
        Images.Dispose();
        Labels.Dispose();
    }
}
