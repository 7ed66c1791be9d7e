using SkiaSharp;
using Tessera.IO;

namespace Tessera.Imaging.Skia;

/// <summary>
/// Tessera's codec for JPEG, BMP, GIF and WebP through SkiaSharp (JPEG by libjpeg-turbo, the decoder Pillow uses).
/// Set it once at startup: <c>ImageIO.Codec = new SkiaImageCodec();</c>. It holds no state, so one instance serves
/// every thread. Pixels come as the file stores them: no colour-profile conversion, alpha not premultiplied.
/// </summary>
public sealed class SkiaImageCodec : IImageCodec
{
    /// <inheritdoc />
    public RgbaImage Decode(ReadOnlySpan<byte> data, string name)
    {
        using var bytes = SKData.CreateCopy(data);
        using var codec = SKCodec.Create(bytes) ?? throw new TesseraFormatException(name, "not a decodable image (PNG, JPEG, BMP, GIF or WebP expected)");
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        if (info.Width < 1 || info.Height < 1) throw new TesseraFormatException(name, "image with zero size");
        if ((long)info.Width * info.Height * 4 > Array.MaxLength) throw new TesseraFormatException(name, $"image of {info.Width}x{info.Height} pixels is too large");
        SKCodecResult result = codec.GetPixels(info, out byte[] pixels);
        if (result is not (SKCodecResult.Success or SKCodecResult.IncompleteInput))
            throw new TesseraFormatException(name, $"image could not be decoded ({result})");
        return new RgbaImage(info.Width, info.Height, pixels);
    }

    /// <inheritdoc />
    public (int Width, int Height) ReadSize(Stream data, string name)
    {
        using var stream = new SKManagedStream(data, disposeManagedStream: false);
        using var codec = SKCodec.Create(stream) ?? throw new TesseraFormatException(name, "not a decodable image (PNG, JPEG, BMP, GIF or WebP expected)");
        return (codec.Info.Width, codec.Info.Height);
    }

    /// <inheritdoc />
    public byte[] EncodeJpeg(RgbaImage image, int quality)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (quality is < 1 or > 100) throw new TesseraUserException(nameof(quality), $"{quality}; expected 1 to 100");
        var info = new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using var bitmap = new SKBitmap(info);
        image.Pixels.AsSpan().CopyTo(bitmap.GetPixelSpan());
        using SKData data = bitmap.Encode(SKEncodedImageFormat.Jpeg, quality);
        return data.ToArray();
    }
}
