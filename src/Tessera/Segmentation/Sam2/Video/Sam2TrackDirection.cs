namespace Tessera.Segmentation.Sam2.Video;

/// <summary>Which way <see cref="VideoTracking.Run"/> tracks the prompted objects.</summary>
public enum Sam2TrackDirection
{
    /// <summary>From the earliest prompted frame to the last frame.</summary>
    Forward,
    /// <summary>From the latest prompted frame back to frame 0.</summary>
    Backward,
    /// <summary>Forwards, then backwards; a frame reached twice keeps the backward pass's masks (tracked with more memory behind it).</summary>
    Both,
}
