namespace Tessera.IO;

/// <summary>
/// Decodes and encodes the image formats Tessera does not handle itself. Tessera reads and writes PNG with its own
/// managed code (PNG is lossless, so every decoder gives the same pixels); JPEG, BMP, GIF and WebP go through the
/// codec the application sets once at startup in <see cref="ImageIO.Codec"/>, for example
/// <c>ImageIO.Codec = new SkiaImageCodec();</c> from the Tessera.Imaging.Skia package (SkiaSharp, whose JPEG
/// decoder is libjpeg-turbo, as Pillow's).
/// </summary>
public interface IImageCodec
{
    /// <summary>Decodes an image file's bytes to RGBA.</summary>
    /// <param name="data">The whole file.</param>
    /// <param name="name">The file or upload, to name in errors.</param>
    /// <exception cref="TesseraFormatException">The bytes are not an image this codec decodes.</exception>
    RgbaImage Decode(ReadOnlySpan<byte> data, string name);

    /// <summary>The width and height from the image's header, without decoding its pixels.</summary>
    /// <param name="data">A stream at the start of the file; it is read as far as the header and not disposed.</param>
    /// <param name="name">The file or upload, to name in errors.</param>
    /// <exception cref="TesseraFormatException">The bytes are not an image this codec decodes.</exception>
    (int Width, int Height) ReadSize(Stream data, string name);

    /// <summary>Encodes an image as a baseline JPEG.</summary>
    /// <param name="image">The pixels (alpha ignored).</param>
    /// <param name="quality">JPEG quality, 1 to 100.</param>
    byte[] EncodeJpeg(RgbaImage image, int quality);
}
