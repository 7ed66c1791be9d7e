using System.Buffers.Binary;

namespace Tessera.IO;

/// <summary>A label map: one class index per pixel, row-major.</summary>
/// <param name="Width">Width in pixels.</param>
/// <param name="Height">Height in pixels.</param>
/// <param name="Labels">Width × Height indices.</param>
public sealed record LabelMap(int Width, int Height, byte[] Labels);

/// <summary>
/// Reads PNG label maps as index maps, exactly: 8-bit (or lower-depth) grayscale PNGs give their gray
/// values, and palette PNGs give their palette indices (not their colours), as PIL's "P" mode does.
/// RGB images are refused, since their colours are not indices. A small decoder of its own (PNG
/// specification, ISO/IEC 15948): chunks, zlib, the five filters, bit depths 1–8, no interlacing.
/// </summary>
public static class LabelPng
{
    private static ReadOnlySpan<byte> Signature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Reads a label PNG file.</summary>
    /// <exception cref="TesseraFormatException">Not a PNG, an RGB PNG, 16-bit, interlaced or corrupt.</exception>
    public static LabelMap Read(string path)
    {
        if (!File.Exists(path)) throw new TesseraFormatException(path, "file not found");
        return Decode(File.ReadAllBytes(path), path);
    }

    /// <summary>Decodes label-PNG bytes; <paramref name="name"/> names them in errors.</summary>
    public static LabelMap Decode(ReadOnlySpan<byte> png, string name)
    {
        if (png.Length < 8 || !png[..8].SequenceEqual(Signature)) throw new TesseraFormatException(name, "not a PNG file");
        int pos = 8, width = 0, height = 0, depth = 0, colorType = -1;
        using var idat = new MemoryStream();
        while (true)
        {
            if (pos + 8 > png.Length) throw new TesseraFormatException(name, "truncated PNG: no IEND chunk");
            int length = (int)BinaryPrimitives.ReadUInt32BigEndian(png[pos..]);
            var type = png.Slice(pos + 4, 4);
            if (length < 0 || pos + 12 + (long)length > png.Length) throw new TesseraFormatException(name, "truncated PNG chunk");
            var data = png.Slice(pos + 8, length);
            if (type.SequenceEqual("IHDR"u8))
            {
                if (length != 13) throw new TesseraFormatException(name, $"corrupt PNG: IHDR chunk of {length} bytes, expected 13");
                width = (int)BinaryPrimitives.ReadUInt32BigEndian(data);
                height = (int)BinaryPrimitives.ReadUInt32BigEndian(data[4..]);
                depth = data[8];
                colorType = data[9];
                if (data[12] != 0) throw new TesseraFormatException(name, "interlaced PNG label maps are not supported; save without interlacing");
                if (colorType is 2 or 6 or 4)
                    throw new TesseraFormatException(name, "RGB or gray+alpha image is not a label map; expected 8-bit single-channel or palette PNG");
                if (colorType is not (0 or 3)) throw new TesseraFormatException(name, $"unknown PNG colour type {colorType}");
                if (depth > 8) throw new TesseraFormatException(name, $"{depth}-bit PNG; expected 8-bit (or lower) label values");
                if (depth is not (1 or 2 or 4 or 8)) throw new TesseraFormatException(name, $"corrupt PNG: bit depth {depth}; expected 1, 2, 4 or 8");
            }
            else if (type.SequenceEqual("IDAT"u8)) idat.Write(data);
            else if (type.SequenceEqual("IEND"u8)) break;
            pos += 12 + length;
        }
        if (colorType < 0) throw new TesseraFormatException(name, "PNG without IHDR");
        if (width <= 0 || height <= 0) throw new TesseraFormatException(name, "PNG with zero size");

        long stride = ((long)width * depth + 7) / 8;
        long rawLength = (stride + 1) * height;
        if (rawLength > Array.MaxLength || (long)width * height > Array.MaxLength)
            throw new TesseraFormatException(name, $"PNG of {width}x{height} pixels is too large for a label map");
        byte[] raw;
        try
        {
            // Inflate into a buffer that grows with the data actually present, so a header that claims a huge image
            // costs nothing until the compressed stream delivers it.
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
            raw = inflated.Length == inflated.Capacity ? inflated.GetBuffer() : inflated.ToArray();
        }
        catch (Exception e) when (e is InvalidDataException or IOException) // zlib errors are IOExceptions (ZLibException is internal)
        {
            throw new TesseraFormatException(name, $"corrupt PNG image data ({e.Message})", e);
        }

        Unfilter(raw, (int)stride, height, Math.Max(1, depth / 8), name);
        var labels = new byte[(long)width * height];
        for (int y = 0; y < height; y++)
        {
            var row = raw.AsSpan((int)(y * (stride + 1) + 1), (int)stride);
            var dst = labels.AsSpan(y * width, width);
            if (depth == 8) row[..width].CopyTo(dst);
            else
            {
                int mask = (1 << depth) - 1, perByte = 8 / depth;
                for (int x = 0; x < width; x++)
                    dst[x] = (byte)((row[x / perByte] >> (8 - depth * (x % perByte + 1))) & mask);
            }
        }
        return new LabelMap(width, height, labels);
    }

    private static void Unfilter(byte[] raw, int stride, int height, int bpp, string name)
    {
        for (int y = 0; y < height; y++)
        {
            int start = y * (stride + 1);
            byte filter = raw[start];
            var cur = raw.AsSpan(start + 1, stride);
            var prev = y > 0 ? raw.AsSpan(start - stride, stride) : Span<byte>.Empty;
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
                        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
                        cur[i] += (byte)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
                    }
                    break;
                default:
                    throw new TesseraFormatException(name, $"corrupt PNG: unknown filter type {filter} on row {y}");
            }
        }
    }
}
