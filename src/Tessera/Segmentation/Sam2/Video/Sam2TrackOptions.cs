namespace Tessera.Segmentation.Sam2.Video;

/// <summary>Settings of a tracking run (<see cref="VideoTracking.Run"/>) and of its output folder (<see cref="Sam2TrackFolder"/>).</summary>
public sealed record Sam2TrackOptions
{
    /// <summary>Which way to track. Default forwards.</summary>
    public Sam2TrackDirection Direction { get; init; } = Sam2TrackDirection.Forward;
    /// <summary>Opacity of the object colours in the overlays. Default 0.55.</summary>
    public float OverlayOpacity { get; init; } = 0.55f;
    /// <summary>Overlays shown on the contact sheet at most, evenly spaced over the tracked frames. Default 16.</summary>
    public int ContactSheetFrames { get; init; } = 16;
    /// <summary>Width in pixels of each contact-sheet tile at most (smaller frames stay as they are). Default 320.</summary>
    public int ContactSheetWidth { get; init; } = 320;
    /// <summary>Frames of the animated preview at most: a longer run shows every k-th tracked frame, k the least that fits. Default 120.</summary>
    public int AnimationFrames { get; init; } = 120;
    /// <summary>Width in pixels of the animated preview at most (smaller frames stay as they are). Default 480.</summary>
    public int AnimationWidth { get; init; } = 480;
    /// <summary>Frame rate of the animated preview where the video does not give one (a folder of frames). Default 10.</summary>
    public double FramesPerSecond { get; init; } = 10;

    /// <summary>Checks the settings; messages name the setting.</summary>
    public void Validate()
    {
        if (!(OverlayOpacity is >= 0 and <= 1)) throw new TesseraUserException(nameof(OverlayOpacity), $"overlay opacity must be in [0, 1], got {OverlayOpacity}");
        if (ContactSheetFrames < 1) throw new TesseraUserException(nameof(ContactSheetFrames), $"contact sheet frames must be at least 1, got {ContactSheetFrames}");
        if (ContactSheetWidth < 8) throw new TesseraUserException(nameof(ContactSheetWidth), $"contact sheet width must be at least 8 pixels, got {ContactSheetWidth}");
        if (AnimationFrames < 1) throw new TesseraUserException(nameof(AnimationFrames), $"animation frames must be at least 1, got {AnimationFrames}");
        if (AnimationWidth < 8) throw new TesseraUserException(nameof(AnimationWidth), $"animation width must be at least 8 pixels, got {AnimationWidth}");
        if (!(FramesPerSecond is > 0 and <= 1000)) throw new TesseraUserException(nameof(FramesPerSecond), $"frames per second must be in (0, 1000], got {FramesPerSecond}");
    }
}
