namespace Tessera.Segmentation.Transforms;

/// <summary>
/// Pads a normalised sample at the bottom and right to a size: the image with 0 (after normalisation,
/// as mmsegmentation's data preprocessor pads), the label with 255 so padding is ignored.
/// </summary>
/// <param name="Height">Target height (at least the sample's).</param>
/// <param name="Width">Target width (at least the sample's).</param>
public sealed record Pad(int Height, int Width)
{
    /// <summary>Image pad value.</summary>
    public const float ImageValue = 0f;

    /// <summary>Label pad value (the ignore index).</summary>
    public const byte LabelValue = 255;

    /// <summary>The padded sample (the sample itself when it already has the size).</summary>
    /// <exception cref="ArgumentException">The sample is larger than the target.</exception>
    public NormalizedSample Apply(NormalizedSample s)
    {
        if (s.Width > Width || s.Height > Height) throw new ArgumentException($"sample {s.Width}x{s.Height} is larger than the pad size {Width}x{Height}");
        if (s.Width == Width && s.Height == Height) return s;
        var image = new float[3 * Width * Height];
        var label = new byte[Width * Height];
        Write(s, image, label, Height, Width);
        return new NormalizedSample(Width, Height, image, label);
    }

    /// <summary>Writes <paramref name="s"/> padded to <paramref name="height"/> × <paramref name="width"/> into the given buffers.</summary>
    public static void Write(NormalizedSample s, Span<float> image, Span<byte> label, int height, int width)
    {
        image[..(3 * width * height)].Fill(ImageValue);
        label[..(width * height)].Fill(LabelValue);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < s.Height; y++)
                s.Image.AsSpan((c * s.Height + y) * s.Width, s.Width).CopyTo(image[((c * height + y) * width)..]);
        for (int y = 0; y < s.Height; y++) s.Label.AsSpan(y * s.Width, s.Width).CopyTo(label[(y * width)..]);
    }
}
