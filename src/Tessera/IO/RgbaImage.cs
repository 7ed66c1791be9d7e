namespace Tessera.IO;

/// <summary>
/// A decoded image: 8-bit RGBA pixels, row-major, alpha not premultiplied (colours as stored in the file). What
/// <see cref="ImageIO.Decode(string)"/> and an <see cref="IImageCodec"/> give.
/// </summary>
public sealed class RgbaImage
{
    /// <summary>Wraps <paramref name="pixels"/> (Width × Height × 4 bytes: R, G, B, A per pixel) without copying.</summary>
    /// <exception cref="TesseraUserException">A size below 1 or a pixel buffer of the wrong length.</exception>
    public RgbaImage(int width, int height, byte[] pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (width < 1 || height < 1) throw new TesseraUserException(nameof(width), $"an image of {width}x{height} pixels; both sides must be at least 1");
        if (pixels.Length != 4L * width * height) throw new TesseraUserException(nameof(pixels), $"expected {4L * width * height} bytes (RGBA, {width}x{height}), got {pixels.Length}");
        (Width, Height, Pixels) = (width, height, pixels);
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>Width × Height × 4 bytes: R, G, B, A of each pixel, row by row.</summary>
    public byte[] Pixels { get; }
}
