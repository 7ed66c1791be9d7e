using System.Buffers.Binary;

namespace Tessera.Tests;

/// <summary>
/// Reads an animated PNG by the APNG 1.0 specification, independently of the writer: every chunk's CRC-32 (zlib's
/// polynomial, computed here bit by bit), IHDR first, acTL before IDAT, fcTL/fdAT sequence numbers 0, 1, 2, … in file
/// order, one fcTL per frame, frame 0's fcTL before IDAT (so the default image is frame 0). Each frame's data (IDAT, or
/// its fdAT payloads without their sequence numbers) is reassembled into a standalone PNG and decoded by the core
/// PNG reader.
/// </summary>
internal static class ApngCheck
{
    internal sealed record Frame(int Width, int Height, int X, int Y, int DelayNumerator, int DelayDenominator, byte[] Rgb);

    private static uint Crc(ReadOnlySpan<byte> bytes)
    {
        uint c = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return ~c;
    }

    private static byte[] Chunk(string type, ReadOnlySpan<byte> data)
    {
        var chunk = new byte[12 + data.Length];
        BinaryPrimitives.WriteUInt32BigEndian(chunk, (uint)data.Length);
        System.Text.Encoding.ASCII.GetBytes(type).CopyTo(chunk, 4);
        data.CopyTo(chunk.AsSpan(8));
        BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + data.Length), Crc(chunk.AsSpan(4, 4 + data.Length)));
        return chunk;
    }

    /// <summary>The frames of the APNG <paramref name="path"/> (RGB, interleaved); asserts the structure.</summary>
    public static (int Plays, List<Frame> Frames) Read(string path)
    {
        byte[] file = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, file[..8]);
        int pos = 8, declared = -1, plays = -1;
        uint expectedSequence = 0;
        byte[]? ihdr = null;
        bool sawIdat = false, sawIend = false;
        var frames = new List<Frame>();
        (int W, int H, int X, int Y, int Num, int Den)? control = null;
        var data = new MemoryStream();
        void Close()
        {
            if (control is not { } c) return;
            var header = (byte[])ihdr!.Clone();
            BinaryPrimitives.WriteUInt32BigEndian(header, (uint)c.W);
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), (uint)c.H);
            byte[] png = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, .. Chunk("IHDR", header), .. Chunk("IDAT", data.ToArray()), .. Chunk("IEND", [])];
            var raster = PngReader.Read(png, $"{path} frame {frames.Count}");
            Assert.Equal((2, 8), (raster.ColorType, raster.BitDepth));
            frames.Add(new Frame(c.W, c.H, c.X, c.Y, c.Num, c.Den, raster.Data));
            control = null;
            data.SetLength(0);
        }
        while (!sawIend)
        {
            Assert.True(pos + 12 <= file.Length, "truncated: no IEND");
            int length = (int)BinaryPrimitives.ReadUInt32BigEndian(file.AsSpan(pos));
            string type = System.Text.Encoding.ASCII.GetString(file, pos + 4, 4);
            var body = file.AsSpan(pos + 8, length);
            Assert.True(Crc(file.AsSpan(pos + 4, 4 + length)) == BinaryPrimitives.ReadUInt32BigEndian(file.AsSpan(pos + 8 + length)), $"CRC of {type} at {pos}");
            Assert.True(ihdr is not null || type == "IHDR", "IHDR must come first");
            switch (type)
            {
                case "IHDR": ihdr = body.ToArray(); break;
                case "acTL":
                    Assert.False(sawIdat, "acTL must come before IDAT");
                    declared = (int)BinaryPrimitives.ReadUInt32BigEndian(body);
                    plays = (int)BinaryPrimitives.ReadUInt32BigEndian(body[4..]);
                    break;
                case "fcTL":
                    Close();
                    Assert.Equal(expectedSequence++, BinaryPrimitives.ReadUInt32BigEndian(body));
                    control = ((int)BinaryPrimitives.ReadUInt32BigEndian(body[4..]), (int)BinaryPrimitives.ReadUInt32BigEndian(body[8..]),
                        (int)BinaryPrimitives.ReadUInt32BigEndian(body[12..]), (int)BinaryPrimitives.ReadUInt32BigEndian(body[16..]),
                        BinaryPrimitives.ReadUInt16BigEndian(body[20..]), BinaryPrimitives.ReadUInt16BigEndian(body[22..]));
                    Assert.True(body[24] == 0 && body[25] == 0, "dispose op NONE, blend op SOURCE");
                    break;
                case "IDAT":
                    Assert.True(declared > 0, "acTL must come before IDAT");
                    Assert.True(control is not null && frames.Count == 0, "frame 0's fcTL must come before IDAT");
                    sawIdat = true;
                    data.Write(body);
                    break;
                case "fdAT":
                    Assert.True(sawIdat && control is not null, "fdAT after IDAT, inside a frame");
                    Assert.Equal(expectedSequence++, BinaryPrimitives.ReadUInt32BigEndian(body));
                    data.Write(body[4..]);
                    break;
                case "IEND": Close(); sawIend = true; break;
            }
            pos += 12 + length;
        }
        Assert.Equal(file.Length, pos);
        Assert.Equal(declared, frames.Count);
        return (plays, frames);
    }
}
