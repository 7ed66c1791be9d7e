using System.Buffers.Binary;

namespace Tessera.IO;

/// <summary>
/// Writes label maps as 8-bit PNGs whose stored values are the labels: palette PNGs (colour type 3, a
/// PLTE chunk, as Pascal VOC's SegmentationClass files) or grayscale PNGs (colour type 0, as
/// Cityscapes' trainId maps). <see cref="LabelPng"/> reads both back as the same indices. PNG
/// specification (ISO/IEC 15948): signature, IHDR, PLTE, IDAT (zlib, filter 0 on every row), IEND, each
/// chunk with its CRC-32.
/// </summary>
public static class PalettePng
{
    private static readonly uint[] CrcTable = MakeCrcTable();

    /// <summary>Encodes a label map as PNG bytes; with a palette (up to 256 RGB entries) a palette PNG, else grayscale.</summary>
    /// <param name="labels">Width × Height label values, row-major.</param>
    /// <param name="width">Width in pixels.</param>
    /// <param name="height">Height in pixels.</param>
    /// <param name="palette">RGB colours by index, or null for a grayscale PNG.</param>
    public static byte[] Encode(ReadOnlySpan<byte> labels, int width, int height, IReadOnlyList<byte[]>? palette = null)
    {
        if (width <= 0 || height <= 0) throw new TesseraUserException(nameof(width), "the label map must not be empty");
        if (labels.Length != (long)width * height) throw new TesseraUserException(nameof(labels), $"expected {width}x{height} labels, got {labels.Length}");
        if (palette is { Count: 0 or > 256 }) throw new TesseraUserException(nameof(palette), "a palette holds 1 to 256 colours");
        using var png = new MemoryStream();
        png.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), (uint)height);
        ihdr[8] = 8;
        ihdr[9] = palette is null ? (byte)0 : (byte)3;
        WriteChunk(png, "IHDR"u8, ihdr);
        if (palette is not null)
        {
            var plte = new byte[3 * palette.Count];
            for (int i = 0; i < palette.Count; i++)
            {
                if (palette[i].Length != 3) throw new TesseraUserException(nameof(palette), $"palette entry {i} is not an RGB triple");
                palette[i].CopyTo(plte, 3 * i);
            }
            WriteChunk(png, "PLTE"u8, plte);
        }
        using (var idat = new MemoryStream())
        {
            using (var z = new ZLibStream(idat, CompressionLevel.Fastest, leaveOpen: true))
            {
                var row = new byte[width + 1];
                for (int y = 0; y < height; y++)
                {
                    labels.Slice(y * width, width).CopyTo(row.AsSpan(1));
                    z.Write(row);
                }
            }
            WriteChunk(png, "IDAT"u8, idat.ToArray());
        }
        WriteChunk(png, "IEND"u8, []);
        return png.ToArray();
    }

    /// <summary>Writes a label map as a PNG file, atomically (see <see cref="Encode"/>).</summary>
    public static void Write(string path, ReadOnlySpan<byte> labels, int width, int height, IReadOnlyList<byte[]>? palette = null) =>
        AtomicFile.WriteAllBytes(path, Encode(labels, width, height, palette));

    private static void WriteChunk(Stream s, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(word, (uint)data.Length);
        s.Write(word);
        s.Write(type);
        s.Write(data);
        uint crc = Crc(Crc(0xFFFFFFFFu, type), data) ^ 0xFFFFFFFFu;
        BinaryPrimitives.WriteUInt32BigEndian(word, crc);
        s.Write(word);
    }

    // CRC-32 of the PNG specification (polynomial 0xEDB88320, reflected), over chunk type and data.
    private static uint Crc(uint crc, ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes) crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    private static uint[] MakeCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[n] = c;
        }
        return table;
    }
}
