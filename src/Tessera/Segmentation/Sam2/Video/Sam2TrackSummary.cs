namespace Tessera.Segmentation.Sam2.Video;

/// <summary>
/// What <see cref="VideoTracking.Run"/> did: the frames written (in frame order), the object ids, the frame steps run
/// (a frame reached by both passes counts twice), and the wall-clock seconds of the propagation with the writing of
/// its outputs.
/// </summary>
public sealed record Sam2TrackSummary(IReadOnlyList<int> Frames, IReadOnlyList<int> ObjectIds, int Steps, double Seconds)
{
    /// <summary>Seconds per frame step (propagation and outputs), or 0 without steps.</summary>
    public double SecondsPerFrame => Steps == 0 ? 0 : Seconds / Steps;

    /// <summary>Why <c>preview.gif</c> was not written (ffmpeg is not on PATH, or it failed), or null (written, or no frame tracked).</summary>
    public string? PreviewGifSkipped { get; init; }
}
