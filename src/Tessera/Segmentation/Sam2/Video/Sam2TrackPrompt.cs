namespace Tessera.Segmentation.Sam2.Video;

/// <summary>
/// One prompt of a tracking run (<see cref="VideoTracking.Run"/>) for object <paramref name="ObjectId"/> (1–255, its value
/// in the label maps) on frame <paramref name="Frame"/>: clicks (x, y in video pixels, label 1 object, 0 background), a box
/// (x0, y0, x1, y1 in video pixels), or a mask ([H, W], bool or 0/1). Prompts of the same object on the same frame are
/// combined: the clicks and at most one box go in together, a mask goes alone.
/// </summary>
public sealed record Sam2TrackPrompt(int Frame, int ObjectId)
{
    /// <summary>Clicks in video pixels with their labels (1 object, 0 background).</summary>
    public IReadOnlyList<(double X, double Y, int Label)> Points { get; init; } = [];
    /// <summary>A box in video pixels, or null.</summary>
    public (double X0, double Y0, double X1, double Y1)? Box { get; init; }
    /// <summary>A mask [H, W] (bool or 0/1), or null; the caller keeps ownership.</summary>
    public torch.Tensor? Mask { get; init; }
}
