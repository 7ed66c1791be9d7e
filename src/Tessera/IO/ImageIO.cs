namespace Tessera.IO;

/// <summary>How many channels an image is read with.</summary>
public enum ColorMode
{
    /// <summary>One channel, luma L = (299 R + 587 G + 114 B) / 1000 (ITU-R 601, as PIL's "L").</summary>
    Gray,
    /// <summary>Three channels, alpha dropped.</summary>
    Rgb,
}

/// <summary>
/// Tensors to and from image files. PNG is read and written by Tessera's own managed code (every colour type and
/// bit depth, interlaced or not); JPEG, BMP, GIF and WebP go through the <see cref="Codec"/> the application sets.
/// </summary>
public static class ImageIO
{
    private static volatile IImageCodec? _codec;

    private const string CodecAdvice = "that the application sets once at startup: add the Tessera.Imaging.Skia package and set ImageIO.Codec = new SkiaImageCodec()";

    /// <summary>
    /// The codec for the formats other than PNG (JPEG, BMP, GIF, WebP); null until the application sets it, once,
    /// at startup: <c>ImageIO.Codec = new SkiaImageCodec();</c> with the Tessera.Imaging.Skia package. Without one,
    /// reading such a file throws a <see cref="TesseraFormatException"/> that names the file and the package.
    /// </summary>
    public static IImageCodec? Codec
    {
        get => _codec;
        set => _codec = value;
    }

    /// <summary>Decodes an image file into uint8 [C, H, W] (C = 1 or 3) on the CPU.</summary>
    /// <exception cref="TesseraFormatException">The file is missing or is not a decodable image.</exception>
    public static torch.Tensor Load(string path, ColorMode mode) => ToTensor(Decode(path), mode);

    /// <summary>Decodes an image file into RGBA pixels (alpha not premultiplied).</summary>
    /// <exception cref="TesseraFormatException">The file is missing, is not a decodable image, or needs a <see cref="Codec"/> and none is set.</exception>
    public static RgbaImage Decode(string path)
    {
        if (!File.Exists(path)) throw new TesseraFormatException(path, "file not found");
        return Decode(File.ReadAllBytes(path), path);
    }

    /// <summary>Decodes an image file's bytes into RGBA pixels; <paramref name="name"/> names them in errors.</summary>
    /// <exception cref="TesseraFormatException">Not a decodable image, or one that needs a <see cref="Codec"/> and none is set.</exception>
    public static RgbaImage Decode(ReadOnlySpan<byte> data, string name) => Decode(data, name, Codec);

    internal static RgbaImage Decode(ReadOnlySpan<byte> data, string name, IImageCodec? codec) =>
        PngReader.IsPng(data) ? PngReader.DecodeRgba(data, name) : CodecFor(data, name, codec).Decode(data, name);

    /// <summary>The width and height of an image file from its header, without decoding its pixels.</summary>
    /// <exception cref="TesseraFormatException">The file is missing, is not a decodable image, or needs a <see cref="Codec"/> and none is set.</exception>
    public static (int Width, int Height) ReadSize(string path)
    {
        if (!File.Exists(path)) throw new TesseraFormatException(path, "file not found");
        using var stream = File.OpenRead(path);
        return ReadSize(stream, path);
    }

    /// <summary>The width and height of an image from its header; <paramref name="data"/> is a seekable stream at the image's start (left open).</summary>
    /// <exception cref="TesseraFormatException">Not a decodable image, or one that needs a <see cref="Codec"/> and none is set.</exception>
    public static (int Width, int Height) ReadSize(Stream data, string name) => ReadSize(data, name, Codec);

    internal static (int Width, int Height) ReadSize(Stream data, string name, IImageCodec? codec)
    {
        long start = data.Position;
        var header = new byte[33];
        int n = data.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        if (PngReader.IsPng(header)) return PngReader.ReadSize(header.AsSpan(0, n), name);
        IImageCodec chosen = CodecFor(header.AsSpan(0, n), name, codec);
        data.Position = start;
        return chosen.ReadSize(data, name);
    }

    // The codec for an image that is not a PNG, or an error naming the file: what it is and the package that reads it.
    private static IImageCodec CodecFor(ReadOnlySpan<byte> header, string name, IImageCodec? codec)
    {
        if (codec is not null) return codec;
        string format = header switch
        {
            [0xFF, 0xD8, 0xFF, ..] => "JPEG",
            [(byte)'B', (byte)'M', ..] => "BMP",
            [(byte)'G', (byte)'I', (byte)'F', (byte)'8', ..] => "GIF",
            [(byte)'R', (byte)'I', (byte)'F', (byte)'F', _, _, _, _, (byte)'W', (byte)'E', (byte)'B', (byte)'P', ..] => "WebP",
            _ => throw new TesseraFormatException(name, "not a decodable image (PNG, JPEG, BMP, GIF or WebP expected)"),
        };
        throw new TesseraFormatException(name, $"a {format} image: Tessera reads PNG itself and {format} through an image codec {CodecAdvice}");
    }

    /// <summary>Converts RGBA pixels to uint8 [C, H, W]: gray by <see cref="ColorMode.Gray"/>'s luma, or RGB with alpha dropped.</summary>
    public static torch.Tensor ToTensor(RgbaImage image, ColorMode mode)
    {
        ArgumentNullException.ThrowIfNull(image);
        int h = image.Height, w = image.Width;
        ReadOnlySpan<byte> rgba = image.Pixels;
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
        byte[] interleaved = c == 1 ? pixels : Interleave(pixels, h * w, alpha: false);
        return PngWriter.Encode(interleaved, w, h, c == 1 ? 0 : 2, [], adaptive: true, CompressionLevel.Optimal);
    }

    /// <summary>Encodes an RGB or gray image tensor (see <see cref="ToBytes"/>) as JPEG bytes at <paramref name="quality"/> (1–100), through <see cref="Codec"/>.</summary>
    /// <exception cref="TesseraUserException">No <see cref="Codec"/> is set.</exception>
    public static byte[] EncodeJpeg(torch.Tensor image, int quality = 90)
    {
        IImageCodec codec = Codec ?? throw new TesseraUserException(nameof(Codec), $"JPEG is written through an image codec {CodecAdvice}");
        var (pixels, c, h, w) = ToBytes(image);
        byte[] rgba = c == 1 ? Interleave([.. pixels, .. pixels, .. pixels], h * w, alpha: true) : Interleave(pixels, h * w, alpha: true);
        return codec.EncodeJpeg(new RgbaImage(w, h, rgba), Math.Clamp(quality, 1, 100));
    }

    // Planar R, G, B planes of n pixels to interleaved RGB, or RGBA with opaque alpha.
    private static byte[] Interleave(byte[] planes, int n, bool alpha)
    {
        int k = alpha ? 4 : 3;
        var result = new byte[k * n];
        for (int i = 0; i < n; i++)
        {
            result[k * i] = planes[i];
            result[k * i + 1] = planes[n + i];
            result[k * i + 2] = planes[2 * n + i];
            if (alpha) result[k * i + 3] = 255;
        }
        return result;
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
