namespace Tessera.Segmentation.Sam2.Video;

/// <summary>Settings of a tracking run (<see cref="VideoTracking.Run"/>) and of its output folder (<see cref="Sam2TrackFolder"/>).</summary>
public sealed record Sam2TrackOptions
{
    /// <summary>Which way to track. Default forwards.</summary>
    public Sam2TrackDirection Direction { get; init; } = Sam2TrackDirection.Forward;
    /// <summary>Opacity of the object colours in the overlays. Default 0.55.</summary>
    public float OverlayOpacity { get; init; } = 0.55f;
    /// <summary>Overlays shown on the preview contact sheet at most, evenly spaced over the tracked frames. Default 16.</summary>
    public int PreviewFrames { get; init; } = 16;
    /// <summary>Width in pixels of each preview tile at most (smaller frames stay as they are). Default 320.</summary>
    public int PreviewWidth { get; init; } = 320;

    /// <summary>Checks the settings; messages name the setting.</summary>
    public void Validate()
    {
        if (!(OverlayOpacity is >= 0 and <= 1)) throw new TesseraUserException(nameof(OverlayOpacity), $"overlay opacity must be in [0, 1], got {OverlayOpacity}");
        if (PreviewFrames < 1) throw new TesseraUserException(nameof(PreviewFrames), $"preview frames must be at least 1, got {PreviewFrames}");
        if (PreviewWidth < 8) throw new TesseraUserException(nameof(PreviewWidth), $"preview width must be at least 8 pixels, got {PreviewWidth}");
    }
}
