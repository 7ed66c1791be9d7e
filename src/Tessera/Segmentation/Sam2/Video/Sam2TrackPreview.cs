using Tessera.IO.Video;

namespace Tessera.Segmentation.Sam2.Video;

/// <summary>
/// The previews of a tracking run, made from its overlay PNGs: an animated PNG (<see cref="ApngWriter"/>; lossless, no
/// palette) of the tracked frames in order, the same frames as an animated GIF (<see cref="GifWriter"/>, through ffmpeg;
/// one palette of 256 colours, dithered), at most <see cref="Sam2TrackOptions.AnimationFrames"/> of them (every k-th
/// frame of a longer run, each shown k frame times) and at most <see cref="Sam2TrackOptions.AnimationWidth"/> pixels
/// wide; and a contact sheet of a few frames. Frames narrower than the limit keep their pixels exactly; wider ones are
/// downscaled bilinearly with antialiasing.
/// </summary>
internal static class Sam2TrackPreview
{
    /// <summary>The size of a frame of <paramref name="width"/> × <paramref name="height"/> at most <paramref name="maxWidth"/> wide.</summary>
    public static (int Width, int Height) Fit(int width, int height, int maxWidth)
    {
        int w = Math.Min(maxWidth, width);
        return (w, Math.Max(1, (int)Math.Round((double)height * w / width)));
    }

    /// <summary>Up to <paramref name="count"/> of <paramref name="frames"/>, evenly spaced, first and last included.</summary>
    public static IReadOnlyList<int> Spread(IReadOnlyList<int> frames, int count)
    {
        if (frames.Count <= count) return frames;
        if (count == 1) return [frames[0]];
        return [.. Enumerable.Range(0, count).Select(i => frames[(int)Math.Round(i * (frames.Count - 1.0) / (count - 1))]).Distinct()];
    }

    /// <summary>Every <c>Stride</c>-th of <paramref name="frames"/> from the first, the least stride that keeps at most <paramref name="count"/>.</summary>
    public static (IReadOnlyList<int> Frames, int Stride) Strided(IReadOnlyList<int> frames, int count)
    {
        int stride = Math.Max(1, (frames.Count + count - 1) / count);
        int[] kept = [.. frames.Where((_, i) => i % stride == 0)];
        return (kept, stride);
    }

    // An overlay PNG as float [1, 3, h, w] in [0, 1], at (w, h).
    private static torch.Tensor Tile(string overlay, int w, int h)
    {
        var image = ImageIO.Load(overlay, ColorMode.Rgb).to(torch.ScalarType.Float32).div(255f).unsqueeze(0);
        return image.shape[3] == w && image.shape[2] == h ? image
            : torch.nn.functional.interpolate(image, [h, w], mode: torch.InterpolationMode.Bilinear, align_corners: false, antialias: true);
    }

    /// <summary>Writes the contact sheet of <paramref name="overlays"/> (frames of <paramref name="width"/> × <paramref name="height"/>), tiles at most <paramref name="maxWidth"/> wide.</summary>
    public static void WriteContactSheet(string path, IReadOnlyList<string> overlays, int width, int height, int maxWidth)
    {
        using var scope = torch.NewDisposeScope();
        var (w, h) = Fit(width, height, maxWidth);
        var tiles = overlays.Select(o => Tile(o, w, h)).ToArray();
        ImageIO.SaveGrid(torch.cat(tiles, 0).clamp(0, 1), path, columns: (int)Math.Ceiling(Math.Sqrt(overlays.Count)), padding: 2, padValue: 1);
    }

    /// <summary>The display time of a preview frame: <paramref name="seconds"/> rounded to milliseconds, at least 1 ms.</summary>
    public static ushort Milliseconds(double seconds) => (ushort)Math.Clamp(Math.Round(seconds * 1000), 1, ushort.MaxValue);

    // Frame k of the animation: overlay k at (w, h) as interleaved RGB bytes
    private static Func<int, byte[]> AnimationFrame(IReadOnlyList<string> overlays, int w, int h) => k =>
    {
        using var scope = torch.NewDisposeScope();
        return Tile(overlays[k], w, h).squeeze(0).mul(255f).round().clamp(0, 255).to(torch.ScalarType.Byte).permute(1, 2, 0).contiguous().bytes.ToArray();
    };

    /// <summary>
    /// Writes the animated PNG of <paramref name="overlays"/> (frames of <paramref name="width"/> × <paramref name="height"/>),
    /// at most <paramref name="maxWidth"/> wide, each frame shown <paramref name="seconds"/> (<see cref="Milliseconds"/>).
    /// </summary>
    public static void WriteAnimation(string path, IReadOnlyList<string> overlays, int width, int height, int maxWidth, double seconds)
    {
        var (w, h) = Fit(width, height, maxWidth);
        AtomicFile.Write(path, stream => ApngWriter.Write(stream, w, h, overlays.Count, AnimationFrame(overlays, w, h), Milliseconds(seconds), 1000));
    }

    /// <summary>
    /// Writes the frames of <see cref="WriteAnimation"/> (the same count, size and display time) as an animated GIF
    /// through <paramref name="ffmpeg"/> (<see cref="GifWriter"/>: one palette of 256 colours, dithered).
    /// </summary>
    /// <exception cref="IOException">ffmpeg failed.</exception>
    public static void WriteGif(string ffmpeg, string path, IReadOnlyList<string> overlays, int width, int height, int maxWidth, double seconds)
    {
        var (w, h) = Fit(width, height, maxWidth);
        GifWriter.Write(ffmpeg, path, w, h, overlays.Count, AnimationFrame(overlays, w, h), Milliseconds(seconds));
    }
}
