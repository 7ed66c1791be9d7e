using System.Buffers.Binary;

namespace Tessera.IO;

/// <summary>
/// A walk over the opcodes of a PyTorch checkpoint's pickle (Python's pickletools opcode table, protocols 0–5) that
/// checks every length-prefixed argument against the bytes that remain, before the unpickler sees the file: the
/// unpickler allocates a declared string length up front, so a 500-byte file could otherwise claim 2 GiB.
/// </summary>
internal static class PickleScan
{
    /// <summary>Null when every pickle in the zip is structurally sound, otherwise what is wrong.</summary>
    public static string? Check(string path)
    {
        try
        {
            using var zip = ZipFile.OpenRead(path);
            foreach (var entry in zip.Entries.Where(e => e.FullName.EndsWith(".pkl", StringComparison.Ordinal)))
            {
                if (entry.Length > 1L << 30) return $"{entry.FullName} of {entry.Length} bytes is too large";
                using var s = entry.Open();
                var ms = new MemoryStream();
                s.CopyTo(ms);
                if (Walk(ms.GetBuffer().AsSpan(0, (int)ms.Length)) is { } problem) return $"{entry.FullName}: {problem}";
            }
            return null;
        }
        catch (InvalidDataException e) { return $"not a readable zip archive ({e.Message})"; }
    }

    private static string? Walk(ReadOnlySpan<byte> p)
    {
        int i = 0;
        while (i < p.Length)
        {
            byte op = p[i++];
            int remaining = p.Length - i;
            switch (op)
            {
                // No argument.
                case (byte)'(' or (byte)'0' or (byte)'1' or (byte)'2' or (byte)'N' or (byte)'R' or (byte)'a' or (byte)'b' or (byte)'d'
                    or (byte)'}' or (byte)'e' or (byte)'l' or (byte)']' or (byte)'o' or (byte)'s' or (byte)'t' or (byte)')' or (byte)'u'
                    or (byte)'Q' or 0x81 or 0x85 or 0x86 or 0x87 or 0x88 or 0x89 or 0x8f or 0x90 or 0x91 or 0x92 or 0x93 or 0x94 or 0x97 or 0x98:
                    break;
                case (byte)'.':
                    return null; // STOP
                // Fixed-size arguments.
                case (byte)'K' or (byte)'q' or (byte)'h' or 0x80 or 0x82:
                    if (!Skip(ref i, 1, remaining)) return Short(op);
                    break;
                case (byte)'M' or 0x83:
                    if (!Skip(ref i, 2, remaining)) return Short(op);
                    break;
                case (byte)'J' or (byte)'r' or (byte)'j' or 0x84:
                    if (!Skip(ref i, 4, remaining)) return Short(op);
                    break;
                case (byte)'G' or 0x95:
                    if (!Skip(ref i, 8, remaining)) return Short(op);
                    break;
                // Length-prefixed data: 1-, 4- or 8-byte lengths.
                case (byte)'U' or (byte)'C' or 0x8c or 0x8a:
                    if (SkipPrefixed(p, ref i, 1, op) is { } problem1) return problem1;
                    break;
                case (byte)'T' or (byte)'X' or (byte)'B' or 0x8b:
                    if (SkipPrefixed(p, ref i, 4, op) is { } problem4) return problem4;
                    break;
                case 0x8d or 0x8e or 0x96:
                    if (SkipPrefixed(p, ref i, 8, op) is { } problem8) return problem8;
                    break;
                // Newline-terminated arguments (GLOBAL and INST have two lines).
                case (byte)'I' or (byte)'L' or (byte)'F' or (byte)'S' or (byte)'V' or (byte)'p' or (byte)'g' or (byte)'P' or (byte)'c' or (byte)'i':
                    for (int lines = op is (byte)'c' or (byte)'i' ? 2 : 1; lines > 0; lines--)
                    {
                        int nl = p[i..].IndexOf((byte)'\n');
                        if (nl < 0) return Short(op);
                        i += nl + 1;
                    }
                    break;
                default:
                    return $"unknown pickle opcode 0x{op:X2} at byte {i - 1}";
            }
        }
        return "pickle ends without STOP";
    }

    private static bool Skip(ref int i, int n, int remaining)
    {
        if (remaining < n) return false;
        i += n;
        return true;
    }

    /// <summary>Skips a length-prefixed argument whose little-endian length takes <paramref name="width"/> bytes; what is wrong, or null.</summary>
    private static string? SkipPrefixed(ReadOnlySpan<byte> p, ref int i, int width, byte op)
    {
        if (p.Length - i < width) return Short(op);
        long arg = width switch
        {
            1 => p[i],
            4 => BinaryPrimitives.ReadInt32LittleEndian(p[i..]),
            _ => BinaryPrimitives.ReadInt64LittleEndian(p[i..]),
        };
        i += width;
        if (arg < 0 || arg > p.Length - i) return Declared(op, arg, p.Length - i);
        i += (int)arg;
        return null;
    }

    private static string Short(byte op) => $"pickle truncated in the argument of opcode 0x{op:X2}";

    private static string Declared(byte op, long declared, int left) => $"pickle opcode 0x{op:X2} declares {declared} bytes but {left} remain";
}
