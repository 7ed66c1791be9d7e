using System.Buffers.Binary;

namespace Tessera.IO;

/// <summary>
/// Writes 8-bit PNGs, fully managed (PNG specification, ISO/IEC 15948): signature, IHDR, PLTE for palette images,
/// one IDAT (zlib through <see cref="ZLibStream"/>), IEND, each chunk with its CRC-32. Rows are filtered with no
/// filter, or adaptively: per row the filter type whose output has the least sum of absolute values as signed
/// bytes (the heuristic of the specification's §12.8 that libpng uses), which compresses photographs well.
/// </summary>
internal static class PngWriter
{
    /// <summary>Encodes interleaved 8-bit samples of colour type 0 (gray), 2 (RGB), 3 (palette indices) or 6 (RGBA).</summary>
    /// <param name="pixels">Width × Height × channels samples, row-major.</param>
    /// <param name="width">Width in pixels.</param>
    /// <param name="height">Height in pixels.</param>
    /// <param name="colorType">PNG colour type: 0, 2, 3 or 6.</param>
    /// <param name="palette">RGB triplets for colour type 3, else null.</param>
    /// <param name="adaptive">Adaptive filtering (else filter type 0 on every row).</param>
    /// <param name="level">zlib compression level.</param>
    public static byte[] Encode(ReadOnlySpan<byte> pixels, int width, int height, int colorType, ReadOnlySpan<byte> palette, bool adaptive, CompressionLevel level)
    {
        int channels = PngRaster.ChannelsOf(colorType), stride = width * channels;
        if (pixels.Length != (long)stride * height) throw new ArgumentException($"expected {(long)stride * height} samples, got {pixels.Length}", nameof(pixels));
        using var png = new MemoryStream();
        png.Write(Signature);
        WriteChunk(png, "IHDR"u8, Header(width, height, colorType));
        if (colorType == 3) WriteChunk(png, "PLTE"u8, palette);
        WriteChunk(png, "IDAT"u8, ImageData(pixels, width, height, channels, adaptive, level));
        WriteChunk(png, "IEND"u8, []);
        return png.ToArray();
    }

    /// <summary>
    /// The zlib stream of an IDAT chunk (or of an APNG frame's fdAT chunks): each row of <paramref name="pixels"/>
    /// (<paramref name="width"/> × <paramref name="channels"/> samples) filtered, prefixed with its filter type, deflated.
    /// </summary>
    internal static byte[] ImageData(ReadOnlySpan<byte> pixels, int width, int height, int channels, bool adaptive, CompressionLevel level)
    {
        int stride = width * channels;
        using var idat = new MemoryStream();
        using (var z = new ZLibStream(idat, level, leaveOpen: true))
        {
            var candidates = new byte[adaptive ? 5 : 1][];
            for (int f = 0; f < candidates.Length; f++) candidates[f] = new byte[stride + 1];
            for (int y = 0; y < height; y++)
            {
                var cur = pixels.Slice(y * stride, stride);
                var prev = y > 0 ? pixels.Slice((y - 1) * stride, stride) : ReadOnlySpan<byte>.Empty;
                byte[] best = candidates[0];
                long bestSum = long.MaxValue;
                for (int f = 0; f < candidates.Length; f++)
                {
                    long sum = Filter(cur, prev, channels, f, candidates[f]);
                    if (sum < bestSum) (best, bestSum) = (candidates[f], sum);
                }
                z.Write(best);
            }
        }
        return idat.ToArray();
    }

    /// <summary>The PNG signature.</summary>
    internal static ReadOnlySpan<byte> Signature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>The 13 bytes of an IHDR chunk of an 8-bit, non-interlaced image.</summary>
    internal static byte[] Header(int width, int height, int colorType)
    {
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), (uint)height);
        ihdr[8] = 8;
        ihdr[9] = (byte)colorType;
        return ihdr;
    }

    // Filters one row with filter type f into output (the type byte, then the row); returns Σ|output byte as sbyte|.
    private static long Filter(ReadOnlySpan<byte> cur, ReadOnlySpan<byte> prev, int bpp, int f, byte[] output)
    {
        output[0] = (byte)f;
        long sum = 0;
        for (int i = 0; i < cur.Length; i++)
        {
            int a = i >= bpp ? cur[i - bpp] : 0, b = prev.IsEmpty ? 0 : prev[i], c = i >= bpp && !prev.IsEmpty ? prev[i - bpp] : 0;
            byte v = f switch
            {
                0 => cur[i],
                1 => (byte)(cur[i] - a),
                2 => (byte)(cur[i] - b),
                3 => (byte)(cur[i] - ((a + b) >> 1)),
                _ => (byte)(cur[i] - PngReader.Paeth(a, b, c)),
            };
            output[i + 1] = v;
            sum += Math.Abs((int)(sbyte)v);
        }
        return sum;
    }

    /// <summary>Writes one chunk: length, type, data, CRC-32 of type and data.</summary>
    internal static void WriteChunk(Stream s, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(word, (uint)data.Length);
        s.Write(word);
        s.Write(type);
        s.Write(data);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32.Finish(Crc32.Update(Crc32.Update(Crc32.Start, type), data)));
        s.Write(word);
    }
}
