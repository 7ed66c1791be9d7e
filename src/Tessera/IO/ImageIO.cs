using SkiaSharp;

namespace Tessera.IO;

/// <summary>How many channels an image is read with.</summary>
public enum ColorMode
{
    /// <summary>One channel, luma L = (299 R + 587 G + 114 B) / 1000 (ITU-R 601, as PIL's "L").</summary>
    Gray,
    /// <summary>Three channels, alpha dropped.</summary>
    Rgb,
}

/// <summary>Tensors to and from image files (PNG out; PNG, JPEG, BMP, GIF, WebP in) through SkiaSharp.</summary>
public static class ImageIO
{
    /// <summary>Decodes an image file into uint8 [C, H, W] (C = 1 or 3) on the CPU.</summary>
    /// <exception cref="TesseraFormatException">The file is missing or is not a decodable image.</exception>
    public static torch.Tensor Load(string path, ColorMode mode)
    {
        using SKBitmap bitmap = Decode(path);
        return FromBitmap(bitmap, mode);
    }

    /// <summary>Decodes an image file into an RGBA SkiaSharp bitmap (unpremultiplied).</summary>
    public static SKBitmap Decode(string path)
    {
        if (!File.Exists(path)) throw new TesseraFormatException(path, "file not found");
        using var codec = SKCodec.Create(path) ?? throw new TesseraFormatException(path, "not a decodable image (PNG, JPEG, BMP, GIF or WebP expected)");
        var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var bitmap = new SKBitmap(info);
        SKCodecResult result = codec.GetPixels(info, bitmap.GetPixels());
        if (result is not (SKCodecResult.Success or SKCodecResult.IncompleteInput))
        {
            bitmap.Dispose();
            throw new TesseraFormatException(path, $"image could not be decoded ({result})");
        }
        return bitmap;
    }

    /// <summary>Converts an RGBA bitmap to uint8 [C, H, W].</summary>
    public static torch.Tensor FromBitmap(SKBitmap bitmap, ColorMode mode)
    {
        if (bitmap.ColorType != SKColorType.Rgba8888) throw new TesseraUserException(nameof(bitmap), "expected an RGBA8888 bitmap");
        int h = bitmap.Height, w = bitmap.Width;
        ReadOnlySpan<byte> rgba = bitmap.GetPixelSpan();
        int channels = mode == ColorMode.Gray ? 1 : 3;
        var result = torch.empty([channels, h, w], torch.ScalarType.Byte);
        Span<byte> dst = result.bytes;
        int plane = h * w;
        for (int i = 0; i < plane; i++)
        {
            byte r = rgba[4 * i], g = rgba[4 * i + 1], b = rgba[4 * i + 2];
            if (channels == 1) dst[i] = (byte)((r * 299 + g * 587 + b * 114) / 1000);
            else { dst[i] = r; dst[plane + i] = g; dst[2 * plane + i] = b; }
        }
        return result;
    }

    /// <summary>
    /// Converts an image tensor to 8-bit pixels: [H, W], [1, H, W] or [3, H, W]; uint8 as is, floating
    /// point read as [0, 1] (clamped, rounded to nearest).
    /// </summary>
    public static (byte[] Pixels, int Channels, int Height, int Width) ToBytes(torch.Tensor image)
    {
        using var scope = torch.NewDisposeScope();
        var t = image.detach().cpu();
        if (t.dim() == 2) t = t.unsqueeze(0);
        if (t.dim() != 3 || (t.shape[0] != 1 && t.shape[0] != 3))
            throw new TesseraUserException(nameof(image), $"expected an image of shape [H, W], [1, H, W] or [3, H, W], got [{string.Join(", ", image.shape)}]");
        if (t.dtype != torch.ScalarType.Byte)
            t = t.to(torch.ScalarType.Float32).clamp(0, 1).mul(255).round().to(torch.ScalarType.Byte);
        t = t.contiguous();
        return (t.bytes.ToArray(), (int)t.shape[0], (int)t.shape[1], (int)t.shape[2]);
    }

    /// <summary>Encodes an image tensor (see <see cref="ToBytes"/>) as PNG bytes: gray PNG for one channel, RGB for three.</summary>
    public static byte[] EncodePng(torch.Tensor image)
    {
        var (pixels, c, h, w) = ToBytes(image);
        var info = new SKImageInfo(w, h, c == 1 ? SKColorType.Gray8 : SKColorType.Rgba8888, SKAlphaType.Opaque);
        using var bitmap = new SKBitmap(info);
        Span<byte> dst = bitmap.GetPixelSpan();
        int plane = h * w;
        if (c == 1) pixels.AsSpan().CopyTo(dst);
        else
            for (int i = 0; i < plane; i++)
            {
                dst[4 * i] = pixels[i];
                dst[4 * i + 1] = pixels[plane + i];
                dst[4 * i + 2] = pixels[2 * plane + i];
                dst[4 * i + 3] = 255;
            }
        using SKData data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>Encodes an RGB or gray image tensor (see <see cref="ToBytes"/>) as JPEG bytes at <paramref name="quality"/> (1–100).</summary>
    public static byte[] EncodeJpeg(torch.Tensor image, int quality = 90)
    {
        var (pixels, c, h, w) = ToBytes(image);
        var info = new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using var bitmap = new SKBitmap(info);
        Span<byte> dst = bitmap.GetPixelSpan();
        int plane = h * w;
        for (int i = 0; i < plane; i++)
        {
            dst[4 * i] = pixels[i];
            dst[4 * i + 1] = pixels[c == 1 ? i : plane + i];
            dst[4 * i + 2] = pixels[c == 1 ? i : 2 * plane + i];
            dst[4 * i + 3] = 255;
        }
        using SKData data = bitmap.Encode(SKEncodedImageFormat.Jpeg, Math.Clamp(quality, 1, 100));
        return data.ToArray();
    }

    /// <summary>Writes an image tensor as a JPEG file, atomically.</summary>
    public static void SaveJpeg(torch.Tensor image, string path, int quality = 90) => AtomicFile.WriteAllBytes(path, EncodeJpeg(image, quality));

    /// <summary>Writes an image tensor as a PNG file, atomically.</summary>
    public static void SavePng(torch.Tensor image, string path) => AtomicFile.WriteAllBytes(path, EncodePng(image));

    /// <summary>
    /// Tiles a batch [N, C, H, W] into one image [C, H', W'] with <paramref name="columns"/> per row and
    /// <paramref name="padding"/> pixels of <paramref name="padValue"/> around each tile (torchvision's make_grid layout).
    /// </summary>
    public static torch.Tensor MakeGrid(torch.Tensor batch, int columns = 8, int padding = 2, double padValue = 0)
    {
        if (batch.dim() != 4) throw new TesseraUserException(nameof(batch), $"expected [N, C, H, W], got [{string.Join(", ", batch.shape)}]");
        if (columns < 1) throw new TesseraUserException(nameof(columns), "at least one column");
        long n = batch.shape[0], c = batch.shape[1], h = batch.shape[2], w = batch.shape[3];
        long cols = Math.Min(columns, Math.Max(n, 1));
        long rows = (n + cols - 1) / cols;
        long th = h + padding, tw = w + padding;
        var grid = torch.full([c, rows * th + padding, cols * tw + padding], padValue, batch.dtype, batch.device);
        for (long k = 0; k < n; k++)
        {
            long y = k / cols * th + padding, x = k % cols * tw + padding;
            using var dst = grid[.., (int)y..(int)(y + h), (int)x..(int)(x + w)];
            using var src = batch[k];
            dst.copy_(src);
        }
        return grid;
    }

    /// <summary>Writes a batch [N, C, H, W] as one PNG grid.</summary>
    public static void SaveGrid(torch.Tensor batch, string path, int columns = 8, int padding = 2, double padValue = 0)
    {
        using var grid = MakeGrid(batch, columns, padding, padValue);
        SavePng(grid, path);
    }
}
