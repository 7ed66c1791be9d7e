using System.Buffers.Binary;

namespace Tessera.IO;

/// <summary>
/// A PNG's image data as stored, after inflating, unfiltering and (for Adam7) de-interlacing: <see cref="Height"/>
/// rows of <see cref="Stride"/> bytes, packed as a non-interlaced PNG packs them (samples big-endian, depths
/// below 8 several to a byte, most significant bits first), with the palette and tRNS chunk as they stand.
/// </summary>
internal sealed record PngRaster(int Width, int Height, int BitDepth, int ColorType, byte[] Data, byte[]? Palette, byte[]? Transparency)
{
    /// <summary>Samples per pixel of the colour type: gray 1, RGB 3, palette 1, gray+alpha 2, RGBA 4.</summary>
    public int Channels => ChannelsOf(ColorType);

    /// <summary>Bytes per row.</summary>
    public int Stride => (int)(((long)Width * Channels * BitDepth + 7) / 8);

    /// <summary>Samples per pixel of a PNG colour type.</summary>
    public static int ChannelsOf(int colorType) => colorType switch { 2 => 3, 4 => 2, 6 => 4, _ => 1 };
}

/// <summary>
/// Reads PNG files into a <see cref="PngRaster"/>, fully managed (PNG specification, ISO/IEC 15948): the chunk
/// structure with each critical chunk's CRC-32 checked, every colour type and bit depth the specification allows,
/// zlib through <see cref="ZLibStream"/>, the five filter types, and Adam7 interlacing. Ancillary chunks other
/// than tRNS (gamma, colour profiles, text) are skipped: pixels come as stored, as SkiaSharp and Pillow give them.
/// </summary>
internal static class PngReader
{
    private static ReadOnlySpan<byte> Signature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    // Adam7 (PNG specification §8.2): the first row and column of each pass and the steps between them.
    private static readonly int[] StartY = [0, 0, 4, 0, 2, 0, 1], StartX = [0, 4, 0, 2, 0, 1, 0];
    private static readonly int[] StepY = [8, 8, 8, 4, 4, 2, 2], StepX = [8, 8, 4, 4, 2, 2, 1];

    /// <summary>Whether <paramref name="data"/> starts with the PNG signature.</summary>
    public static bool IsPng(ReadOnlySpan<byte> data) => data.Length >= 8 && data[..8].SequenceEqual(Signature);

    /// <summary>Width and height from the IHDR chunk (the first chunk of every PNG).</summary>
    /// <exception cref="TesseraFormatException">Not a PNG, or its header is damaged.</exception>
    public static (int Width, int Height) ReadSize(ReadOnlySpan<byte> header, string name)
    {
        if (!IsPng(header)) throw new TesseraFormatException(name, "not a PNG file");
        if (header.Length < 33 || !header.Slice(12, 4).SequenceEqual("IHDR"u8)) throw new TesseraFormatException(name, "corrupt PNG: no IHDR chunk first");
        var (w, h, _, _, _) = Header(header.Slice(16, 13), name);
        return (w, h);
    }

    /// <summary>Decodes PNG bytes; <paramref name="name"/> names them in errors.</summary>
    /// <exception cref="TesseraFormatException">Not a PNG, or damaged.</exception>
    public static PngRaster Read(ReadOnlySpan<byte> png, string name)
    {
        if (!IsPng(png)) throw new TesseraFormatException(name, "not a PNG file");
        int pos = 8, width = 0, height = 0, depth = 0, colorType = -1, interlace = 0;
        byte[]? palette = null, transparency = null;
        using var idat = new MemoryStream();
        while (true)
        {
            if (pos + 8 > png.Length) throw new TesseraFormatException(name, "truncated PNG: no IEND chunk");
            uint length = BinaryPrimitives.ReadUInt32BigEndian(png[pos..]);
            var type = png.Slice(pos + 4, 4);
            if (length > int.MaxValue || pos + 12 + (long)length > png.Length) throw new TesseraFormatException(name, "truncated PNG chunk");
            var data = png.Slice(pos + 8, (int)length);
            bool critical = (type[0] & 0x20) == 0;
            if ((critical || type.SequenceEqual("tRNS"u8)) && !CrcMatches(png.Slice(pos + 4, 4 + (int)length), png[(pos + 8 + (int)length)..]))
                throw new TesseraFormatException(name, $"corrupt PNG: CRC mismatch in the {System.Text.Encoding.ASCII.GetString(type)} chunk");
            if (colorType < 0 && !type.SequenceEqual("IHDR"u8)) throw new TesseraFormatException(name, "corrupt PNG: no IHDR chunk first");
            if (type.SequenceEqual("IHDR"u8))
            {
                if (colorType >= 0) throw new TesseraFormatException(name, "corrupt PNG: two IHDR chunks");
                if (length != 13) throw new TesseraFormatException(name, $"corrupt PNG: IHDR chunk of {length} bytes, expected 13");
                (width, height, depth, colorType, interlace) = Header(data, name);
            }
            else if (type.SequenceEqual("PLTE"u8))
            {
                if (length % 3 != 0 || length is 0 or > 768) throw new TesseraFormatException(name, $"corrupt PNG: PLTE chunk of {length} bytes");
                palette = data.ToArray();
            }
            else if (type.SequenceEqual("tRNS"u8)) transparency = data.ToArray();
            else if (type.SequenceEqual("IDAT"u8)) idat.Write(data);
            else if (type.SequenceEqual("IEND"u8)) break;
            else if (critical) throw new TesseraFormatException(name, $"unknown critical PNG chunk {System.Text.Encoding.ASCII.GetString(type)}");
            pos += 12 + (int)length;
        }
        if (colorType == 3 && palette is null) throw new TesseraFormatException(name, "corrupt PNG: palette image without a PLTE chunk");

        int channels = PngRaster.ChannelsOf(colorType);
        long stride = ((long)width * channels * depth + 7) / 8;
        if (stride * height > Array.MaxLength || (long)width * height * 4 > Array.MaxLength)
            throw new TesseraFormatException(name, $"PNG of {width}x{height} pixels is too large");
        int bpp = Math.Max(1, channels * depth / 8);
        var passes = new List<(int X0, int Y0, int Dx, int Dy, int W, int H)>();
        if (interlace == 0) passes.Add((0, 0, 1, 1, width, height));
        else
            for (int p = 0; p < 7; p++)
            {
                int pw = (width - StartX[p] + StepX[p] - 1) / StepX[p], ph = (height - StartY[p] + StepY[p] - 1) / StepY[p];
                if (pw > 0 && ph > 0) passes.Add((StartX[p], StartY[p], StepX[p], StepY[p], pw, ph));
            }
        long rawLength = passes.Sum(p => (((long)p.W * channels * depth + 7) / 8 + 1) * p.H);
        byte[] raw = Inflate(idat, rawLength, name);

        var image = new byte[stride * height];
        int offset = 0;
        foreach (var (x0, y0, dx, dy, pw, ph) in passes)
        {
            int passStride = (int)(((long)pw * channels * depth + 7) / 8);
            var pass = raw.AsSpan(offset, (passStride + 1) * ph);
            offset += pass.Length;
            Unfilter(pass, passStride, ph, bpp, name);
            for (int y = 0; y < ph; y++)
            {
                var src = pass.Slice(y * (passStride + 1) + 1, passStride);
                var dst = image.AsSpan((int)((y0 + (long)y * dy) * stride), (int)stride);
                if (interlace == 0) src.CopyTo(dst);
                else Scatter(src, dst, pw, x0, dx, channels * depth);
            }
        }
        return new PngRaster(width, height, depth, colorType, image, palette, transparency);
    }

    /// <summary>
    /// Decodes PNG bytes to 8-bit RGBA as SkiaSharp does: gray below 8 bits scaled to 0–255 (v × 255 / (2^depth − 1)),
    /// 16-bit samples to their high byte, tRNS giving alpha 0 to the matching gray or RGB value and their alphas to
    /// palette entries, and indices past the palette's end taking its last colour.
    /// </summary>
    public static RgbaImage DecodeRgba(ReadOnlySpan<byte> png, string name)
    {
        PngRaster r = Read(png, name);
        int w = r.Width, h = r.Height, bits = r.BitDepth, channels = r.Channels, stride = r.Stride;
        var rgba = new byte[4L * w * h];
        Span<byte> table = stackalloc byte[4 * 256];
        if (r.ColorType == 3)
        {
            byte[] plte = r.Palette!;
            int colors = plte.Length / 3;
            for (int i = 0; i < 256; i++)
            {
                int k = Math.Min(i, colors - 1);
                table[4 * i] = plte[3 * k];
                table[4 * i + 1] = plte[3 * k + 1];
                table[4 * i + 2] = plte[3 * k + 2];
                table[4 * i + 3] = r.Transparency is { } t && k < t.Length ? t[k] : (byte)255;
            }
        }
        // The tRNS key of gray or RGB images, in samples at the image's depth.
        int[]? key = null;
        if (r.Transparency is { } trns && r.ColorType is 0 or 2 && trns.Length >= 2 * channels)
        {
            key = new int[channels];
            for (int c = 0; c < channels; c++) key[c] = BinaryPrimitives.ReadUInt16BigEndian(trns.AsSpan(2 * c));
        }
        if (bits == 8 && key is null && r.ColorType is 0 or 2 or 6)
        {
            // The common 8-bit images without a tRNS key: bytes copied as they are.
            if (r.ColorType == 6) r.Data.AsSpan(0, rgba.Length).CopyTo(rgba);
            else
                for (int i = 0, n = w * h; i < n; i++)
                {
                    int s = i * channels;
                    rgba[4 * i] = r.Data[s];
                    rgba[4 * i + 1] = r.Data[s + channels / 3];
                    rgba[4 * i + 2] = r.Data[s + 2 * (channels / 3)];
                    rgba[4 * i + 3] = 255;
                }
            return new RgbaImage(w, h, rgba);
        }
        int max = (1 << Math.Min(bits, 8)) - 1;
        Span<int> sample = stackalloc int[4];
        Span<byte> v = stackalloc byte[4];
        for (int y = 0; y < h; y++)
        {
            var row = r.Data.AsSpan(y * stride, stride);
            for (int x = 0; x < w; x++)
            {
                for (int c = 0; c < channels; c++)
                {
                    int i = x * channels + c;
                    sample[c] = bits switch
                    {
                        16 => BinaryPrimitives.ReadUInt16BigEndian(row[(2 * i)..]),
                        8 => row[i],
                        _ => (row[i * bits / 8] >> (8 - bits - i * bits % 8)) & max,
                    };
                }
                var dst = rgba.AsSpan(4 * (y * w + x), 4);
                if (r.ColorType == 3)
                {
                    table.Slice(4 * sample[0], 4).CopyTo(dst);
                    continue;
                }
                bool transparent = key is not null;
                for (int c = 0; c < channels && key is not null; c++) transparent &= sample[c] == key[c];
                for (int c = 0; c < channels; c++) v[c] = (byte)(bits == 16 ? sample[c] >> 8 : sample[c] * 255 / max);
                (dst[0], dst[1], dst[2], dst[3]) = r.ColorType switch
                {
                    0 => (v[0], v[0], v[0], transparent ? (byte)0 : (byte)255),
                    4 => (v[0], v[0], v[0], v[1]),
                    2 => (v[0], v[1], v[2], transparent ? (byte)0 : (byte)255),
                    _ => (v[0], v[1], v[2], v[3]),
                };
            }
        }
        return new RgbaImage(w, h, rgba);
    }

    private static (int Width, int Height, int Depth, int ColorType, int Interlace) Header(ReadOnlySpan<byte> data, string name)
    {
        uint w = BinaryPrimitives.ReadUInt32BigEndian(data), h = BinaryPrimitives.ReadUInt32BigEndian(data[4..]);
        int depth = data[8], colorType = data[9];
        if (w == 0 || h == 0 || w > int.MaxValue || h > int.MaxValue) throw new TesseraFormatException(name, $"corrupt PNG: size {w}x{h}");
        bool allowed = colorType switch
        {
            0 => depth is 1 or 2 or 4 or 8 or 16,
            3 => depth is 1 or 2 or 4 or 8,
            2 or 4 or 6 => depth is 8 or 16,
            _ => throw new TesseraFormatException(name, $"corrupt PNG: unknown colour type {colorType}"),
        };
        if (!allowed) throw new TesseraFormatException(name, $"corrupt PNG: bit depth {depth} is not allowed for colour type {colorType}");
        if (data[10] != 0 || data[11] != 0) throw new TesseraFormatException(name, "corrupt PNG: unknown compression or filter method");
        if (data[12] > 1) throw new TesseraFormatException(name, $"corrupt PNG: unknown interlace method {data[12]}");
        return ((int)w, (int)h, depth, colorType, data[12]);
    }

    private static bool CrcMatches(ReadOnlySpan<byte> typeAndData, ReadOnlySpan<byte> stored) =>
        stored.Length >= 4 && Crc32.Of(typeAndData) == BinaryPrimitives.ReadUInt32BigEndian(stored);

    // Inflates into a buffer that grows with the data actually present, so a header that claims a huge image costs
    // nothing until the compressed stream delivers it.
    private static byte[] Inflate(MemoryStream idat, long rawLength, string name)
    {
        try
        {
            idat.Position = 0;
            using var z = new ZLibStream(idat, CompressionMode.Decompress);
            using var inflated = new MemoryStream();
            var buffer = new byte[64 * 1024];
            while (inflated.Length < rawLength)
            {
                int n = z.Read(buffer, 0, (int)Math.Min(buffer.Length, rawLength - inflated.Length));
                if (n == 0) break;
                inflated.Write(buffer, 0, n);
            }
            if (inflated.Length < rawLength) throw new TesseraFormatException(name, $"truncated PNG image data ({inflated.Length} of {rawLength} bytes)");
            return inflated.Length == inflated.Capacity ? inflated.GetBuffer() : inflated.ToArray();
        }
        catch (Exception e) when (e is InvalidDataException or IOException) // zlib errors are IOExceptions (ZLibException is internal)
        {
            throw new TesseraFormatException(name, $"corrupt PNG image data ({e.Message})", e);
        }
    }

    // Places a pass's row of pw pixels (bits bits each) at columns x0, x0 + dx, … of a full row.
    private static void Scatter(ReadOnlySpan<byte> src, Span<byte> dst, int pw, int x0, int dx, int bits)
    {
        if (bits >= 8)
        {
            int bytes = bits / 8;
            for (int i = 0; i < pw; i++) src.Slice(i * bytes, bytes).CopyTo(dst[((x0 + i * dx) * bytes)..]);
            return;
        }
        int mask = (1 << bits) - 1;
        for (int i = 0; i < pw; i++)
        {
            int v = (src[i * bits / 8] >> (8 - bits - i * bits % 8)) & mask;
            int bit = (x0 + i * dx) * bits, shift = 8 - bits - bit % 8;
            dst[bit / 8] = (byte)((dst[bit / 8] & ~(mask << shift)) | (v << shift));
        }
    }

    /// <summary>The Paeth predictor (PNG specification §9.4): whichever of left a, up b, up-left c is nearest to a + b − c.</summary>
    internal static byte Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return (byte)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
    }

    /// <summary>Reverses the five filter types (PNG specification §9) in place over rows of a filter byte and <paramref name="stride"/> bytes.</summary>
    private static void Unfilter(Span<byte> raw, int stride, int height, int bpp, string name)
    {
        for (int y = 0; y < height; y++)
        {
            int start = y * (stride + 1);
            byte filter = raw[start];
            var cur = raw.Slice(start + 1, stride);
            var prev = y > 0 ? raw.Slice(start - stride, stride) : Span<byte>.Empty;
            switch (filter)
            {
                case 0: break;
                case 1:
                    for (int i = bpp; i < stride; i++) cur[i] += cur[i - bpp];
                    break;
                case 2:
                    if (y > 0) for (int i = 0; i < stride; i++) cur[i] += prev[i];
                    break;
                case 3:
                    for (int i = 0; i < stride; i++)
                    {
                        int a = i >= bpp ? cur[i - bpp] : 0, b = y > 0 ? prev[i] : 0;
                        cur[i] += (byte)((a + b) >> 1);
                    }
                    break;
                case 4:
                    for (int i = 0; i < stride; i++)
                    {
                        int a = i >= bpp ? cur[i - bpp] : 0, b = y > 0 ? prev[i] : 0, c = y > 0 && i >= bpp ? prev[i - bpp] : 0;
                        cur[i] += Paeth(a, b, c);
                    }
                    break;
                default:
                    throw new TesseraFormatException(name, $"corrupt PNG: unknown filter type {filter} on row {y}");
            }
        }
    }
}
