using System.Buffers.Binary;
using System.IO.Compression;

namespace Tessera.Bench.Fuzz;

/// <summary>PNG chunks (PNG spec §5), CRC-32 and zlib, to build seeds and structured mutations.</summary>
public static class Png
{
    private static readonly byte[] Signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];
    private static readonly uint[] Table = [.. Enumerable.Range(0, 256).Select(n =>
    {
        uint c = (uint)n;
        for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        return c;
    })];

    /// <summary>CRC-32 of the PNG spec (Annex D).</summary>
    public static uint Crc(ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (byte b in type) c = Table[(c ^ b) & 0xFF] ^ (c >> 8);
        foreach (byte b in data) c = Table[(c ^ b) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }

    /// <summary>The file from chunks (type, data), with correct lengths and CRCs.</summary>
    public static byte[] Build(IEnumerable<(string Type, byte[] Data)> chunks)
    {
        var ms = new MemoryStream();
        ms.Write(Signature);
        Span<byte> word = stackalloc byte[4];
        foreach (var (type, data) in chunks)
        {
            BinaryPrimitives.WriteUInt32BigEndian(word, (uint)data.Length);
            ms.Write(word);
            var t = System.Text.Encoding.ASCII.GetBytes(type);
            ms.Write(t);
            ms.Write(data);
            BinaryPrimitives.WriteUInt32BigEndian(word, Crc(t, data));
            ms.Write(word);
        }
        return ms.ToArray();
    }

    /// <summary>Chunks of a well-formed file (null where the chunk structure is broken).</summary>
    public static List<(string Type, byte[] Data)>? Parse(byte[] png)
    {
        if (png.Length < 8) return null;
        var list = new List<(string, byte[])>();
        int pos = 8;
        while (pos + 12 <= png.Length)
        {
            uint len = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(pos));
            if (len > png.Length - pos - 12) return null;
            list.Add((System.Text.Encoding.ASCII.GetString(png, pos + 4, 4), png.AsSpan(pos + 8, (int)len).ToArray()));
            pos += 12 + (int)len;
        }
        return list;
    }

    /// <summary>Offsets where chunks start (for truncation at chunk boundaries).</summary>
    public static List<int> Boundaries(byte[] png)
    {
        var list = new List<int> { 8 };
        int pos = 8;
        while (pos + 12 <= png.Length)
        {
            uint len = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(pos));
            if (len > png.Length - pos - 12) break;
            list.Add(pos + 8);
            pos += 12 + (int)len;
            list.Add(pos);
        }
        return list;
    }

    /// <summary>IHDR data: width, height, bit depth, colour type, interlace.</summary>
    public static byte[] Ihdr(int width, int height, int depth, int colorType, int interlace = 0)
    {
        var d = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(d, width);
        BinaryPrimitives.WriteInt32BigEndian(d.AsSpan(4), height);
        d[8] = (byte)depth; d[9] = (byte)colorType; d[12] = (byte)interlace;
        return d;
    }

    /// <summary>zlib-compressed bytes.</summary>
    public static byte[] Deflate(byte[] raw)
    {
        var ms = new MemoryStream();
        using (var z = new ZLibStream(ms, CompressionLevel.Fastest, leaveOpen: true)) z.Write(raw);
        return ms.ToArray();
    }

    /// <summary>zlib-decompressed bytes, or null where corrupt (at most <paramref name="limit"/> bytes).</summary>
    public static byte[]? Inflate(byte[] data, int limit = 1 << 22)
    {
        try
        {
            using var z = new ZLibStream(new MemoryStream(data), CompressionMode.Decompress);
            var ms = new MemoryStream();
            var buf = new byte[4096];
            int n;
            while ((n = z.Read(buf)) > 0 && ms.Length < limit) ms.Write(buf, 0, n);
            return ms.ToArray();
        }
        catch (InvalidDataException) { return null; }
    }

    /// <summary>A non-interlaced image of <paramref name="height"/> rows of <paramref name="stride"/> bytes, with row filters cycling 0–4 (filtered as type 0 data: the decoded values differ, the structure is valid).</summary>
    public static byte[] Image(int width, int height, int depth, int colorType, int channels, Random r, int interlace = 0, byte[]? palette = null)
    {
        int stride = (width * depth * channels + 7) / 8;
        var raw = new byte[(stride + 1) * height];
        for (int y = 0; y < height; y++)
        {
            raw[y * (stride + 1)] = (byte)(y % 5);
            for (int i = 0; i < stride; i++) raw[y * (stride + 1) + 1 + i] = (byte)r.Next(256);
        }
        var chunks = new List<(string, byte[])> { ("IHDR", Ihdr(width, height, depth, colorType, interlace)) };
        if (palette is not null) chunks.Add(("PLTE", palette));
        chunks.Add(("IDAT", Deflate(raw)));
        chunks.Add(("IEND", []));
        return Build(chunks);
    }

    /// <summary>A structured mutation that keeps CRCs valid, so the parser meets the damage past the container checks.</summary>
    public static byte[] Mutate(Random r, byte[] png)
    {
        var chunks = Parse(png);
        if (chunks is null || chunks.Count == 0) return Mutator.Bytes(r, png, Boundaries(png));
        int ihdr = chunks.FindIndex(c => c.Type == "IHDR");
        int idat = chunks.FindIndex(c => c.Type == "IDAT");
        switch (r.Next(8))
        {
            case 0 when ihdr >= 0: // header fields: sizes, depth, colour type, interlace
                {
                    var d = (byte[])chunks[ihdr].Data.Clone();
                    if (d.Length < 13) break;
                    switch (r.Next(5))
                    {
                        case 0: BinaryPrimitives.WriteUInt32BigEndian(d, (uint)Mutator.Interesting[r.Next(Mutator.Interesting.Length)]); break;
                        case 1: BinaryPrimitives.WriteUInt32BigEndian(d.AsSpan(4), (uint)Mutator.Interesting[r.Next(Mutator.Interesting.Length)]); break;
                        case 2: d[8] = (byte)new[] { 0, 1, 2, 3, 4, 5, 8, 16, 32, 255 }[r.Next(10)]; break;
                        case 3: d[9] = (byte)new[] { 0, 1, 2, 3, 4, 6, 7, 255 }[r.Next(8)]; break;
                        default: d[12] = (byte)r.Next(3); break;
                    }
                    chunks[ihdr] = ("IHDR", d);
                    break;
                }
            case 1 when ihdr >= 0: // short or long IHDR
                chunks[ihdr] = ("IHDR", chunks[ihdr].Data.AsSpan(0, r.Next(chunks[ihdr].Data.Length)).ToArray());
                break;
            case 2 when idat >= 0: // corrupt zlib stream, CRC fixed
                chunks[idat] = ("IDAT", Mutator.Bytes(r, chunks[idat].Data, [0, 2, chunks[idat].Data.Length - 4]));
                break;
            case 3 when idat >= 0: // unknown row filter, or damaged rows, recompressed
                {
                    var raw = Inflate(chunks[idat].Data);
                    if (raw is null || raw.Length == 0) break;
                    if (r.Next(2) == 0) raw[r.Next(raw.Length)] = (byte)r.Next(5, 256);
                    else raw = r.Next(2) == 0 ? raw[..r.Next(raw.Length)] : [.. raw, .. new byte[1 + r.Next(64)]];
                    chunks[idat] = ("IDAT", Deflate(raw));
                    break;
                }
            case 4 when idat >= 0: // IDAT split in two
                {
                    var d = chunks[idat].Data;
                    int at = r.Next(d.Length + 1);
                    chunks[idat] = ("IDAT", d[..at]);
                    chunks.Insert(idat + 1, ("IDAT", d[at..]));
                    break;
                }
            case 5: // a chunk removed or duplicated
                {
                    int i = r.Next(chunks.Count);
                    if (r.Next(2) == 0) chunks.RemoveAt(i); else chunks.Insert(i, chunks[i]);
                    break;
                }
            case 6: // a declared length of 2³¹ − 1 or 2³² − 1 (CRC unchanged)
                {
                    var b = Build(chunks);
                    var bounds = Boundaries(b).Where(x => x + 4 <= b.Length).ToList();
                    int at = bounds[r.Next(bounds.Count)];
                    BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(at), r.Next(2) == 0 ? int.MaxValue : uint.MaxValue);
                    return b;
                }
            default:
                return Mutator.Bytes(r, png, Boundaries(png));
        }
        var built = Build(chunks);
        return r.Next(4) == 0 ? Mutator.Bytes(r, built, Boundaries(built)) : built;
    }
}
