using System.Buffers.Binary;

namespace Tessera.IO;

/// <summary>
/// CRC-32 as zip (PKWARE APPNOTE 4.4.7), zlib's <c>crc32</c> and PNG compute it: the reflected IEEE 802.3 polynomial
/// 0xEDB88320, initial value and final XOR 0xFFFFFFFF; eight bytes per step through eight tables ("slicing-by-8").
/// </summary>
internal static class Crc32
{
    private static readonly uint[][] Tables = BuildTables();

    private static uint[][] BuildTables()
    {
        var t = new uint[8][];
        for (int k = 0; k < 8; k++) t[k] = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int b = 0; b < 8; b++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[0][i] = c;
        }
        // Table k advances table k−1 by one zero byte: t_k[i] = (t_{k−1}[i] >> 8) ^ t_0[t_{k−1}[i] & 0xFF].
        for (int k = 1; k < 8; k++)
            for (int i = 0; i < 256; i++)
                t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
        return t;
    }

    /// <summary>Continues a running CRC (start from <see cref="Start"/>, finish with <see cref="Finish"/>) over <paramref name="data"/>.</summary>
    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        uint[] t0 = Tables[0], t1 = Tables[1], t2 = Tables[2], t3 = Tables[3], t4 = Tables[4], t5 = Tables[5], t6 = Tables[6], t7 = Tables[7];
        int i = 0;
        for (; i + 8 <= data.Length; i += 8)
        {
            uint lo = BinaryPrimitives.ReadUInt32LittleEndian(data[i..]) ^ crc;
            uint hi = BinaryPrimitives.ReadUInt32LittleEndian(data[(i + 4)..]);
            crc = t7[lo & 0xFF] ^ t6[(lo >> 8) & 0xFF] ^ t5[(lo >> 16) & 0xFF] ^ t4[lo >> 24]
                ^ t3[hi & 0xFF] ^ t2[(hi >> 8) & 0xFF] ^ t1[(hi >> 16) & 0xFF] ^ t0[hi >> 24];
        }
        for (; i < data.Length; i++) crc = t0[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    /// <summary>The running value before any byte.</summary>
    public const uint Start = 0xFFFFFFFFu;

    /// <summary>The CRC of the bytes a running value has seen.</summary>
    public static uint Finish(uint crc) => crc ^ 0xFFFFFFFFu;

    /// <summary>The CRC-32 of <paramref name="data"/>.</summary>
    public static uint Of(ReadOnlySpan<byte> data) => Finish(Update(Start, data));

    /// <summary>The CRC-32 of everything <paramref name="stream"/> yields from its position to its end.</summary>
    public static uint Of(Stream stream)
    {
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            uint crc = Start;
            int n;
            while ((n = stream.Read(buffer, 0, buffer.Length)) > 0) crc = Update(crc, buffer.AsSpan(0, n));
            return Finish(crc);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
