using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;

namespace Tessera.Bench.Fuzz;

/// <summary>Generic byte-level and JSON-level mutations: bit flips, interesting integers, truncation, splices.</summary>
public static class Mutator
{
    /// <summary>Integers that break size arithmetic: 0, −1, 2³¹ − 1, 2³², 2⁶², 2⁶³ − 1, and their neighbours.</summary>
    public static readonly long[] Interesting = [0, 1, -1, 2, 255, 256, 65535, 65536, int.MaxValue, int.MinValue, uint.MaxValue, 1L << 32, 1L << 62, long.MaxValue, long.MinValue, -(1L << 62)];

    /// <summary>One to four random byte-level mutations of <paramref name="input"/>; <paramref name="boundaries"/> are structural offsets (chunk or field starts).</summary>
    public static byte[] Bytes(Random r, byte[] input, IReadOnlyList<int> boundaries)
    {
        var b = new List<byte>(input);
        int n = 1 + r.Next(4);
        for (int k = 0; k < n; k++)
        {
            int Pos() => b.Count == 0 ? 0 : boundaries.Count > 0 && r.Next(2) == 0 ? Math.Min(boundaries[r.Next(boundaries.Count)], b.Count - 1) : r.Next(b.Count);
            switch (r.Next(9))
            {
                case 0: // bit flip
                    if (b.Count > 0) { int p = r.Next(b.Count); b[p] ^= (byte)(1 << r.Next(8)); }
                    break;
                case 1: // random byte
                    if (b.Count > 0) b[r.Next(b.Count)] = (byte)r.Next(256);
                    break;
                case 2: // truncation, at a boundary or anywhere
                    {
                        int at = boundaries.Count > 0 && r.Next(2) == 0 ? boundaries[r.Next(boundaries.Count)] + r.Next(-1, 2) : r.Next(b.Count + 1);
                        at = Math.Clamp(at, 0, b.Count);
                        b.RemoveRange(at, b.Count - at);
                        break;
                    }
                case 3: // interesting 32-bit integer, either endianness
                case 4:
                    {
                        if (b.Count < 4) break;
                        int p = Math.Min(Pos(), b.Count - 4);
                        var w = new byte[4];
                        long v = Interesting[r.Next(Interesting.Length)];
                        if (r.Next(2) == 0) BinaryPrimitives.WriteUInt32BigEndian(w, (uint)v); else BinaryPrimitives.WriteUInt32LittleEndian(w, (uint)v);
                        for (int i = 0; i < 4; i++) b[p + i] = w[i];
                        break;
                    }
                case 5: // interesting 64-bit integer (little-endian: safetensors' header length)
                    {
                        if (b.Count < 8) break;
                        int p = Math.Min(Pos(), b.Count - 8);
                        var w = new byte[8];
                        BinaryPrimitives.WriteInt64LittleEndian(w, Interesting[r.Next(Interesting.Length)]);
                        for (int i = 0; i < 8; i++) b[p + i] = w[i];
                        break;
                    }
                case 6: // delete a range
                    if (b.Count > 1) { int p = r.Next(b.Count); b.RemoveRange(p, Math.Min(b.Count - p, 1 + r.Next(16))); }
                    break;
                case 7: // duplicate a range (repeated chunks)
                    if (b.Count > 1) { int p = Pos(); int len = Math.Min(b.Count - p, 1 + r.Next(64)); b.InsertRange(Pos(), b.GetRange(p, len)); }
                    break;
                default: // insert random bytes
                    b.InsertRange(b.Count == 0 ? 0 : r.Next(b.Count), Enumerable.Range(0, 1 + r.Next(8)).Select(_ => (byte)r.Next(256)));
                    break;
            }
        }
        return [.. b];
    }

    /// <summary>A JSON value that breaks readers: huge, negative, fractional, wrong kind, deep.</summary>
    public static JsonNode? Value(Random r) => r.Next(12) switch
    {
        0 => JsonValue.Create(1L << 62),
        1 => JsonValue.Create(-1),
        2 => JsonValue.Create(-(1L << 62)),
        3 => JsonValue.Create(1.5),
        4 => JsonValue.Create(1e308),
        5 => JsonValue.Create("x"),
        6 => null,
        7 => new JsonArray(),
        8 => new JsonObject(),
        9 => JsonValue.Create(0),
        10 => JsonValue.Create(uint.MaxValue),
        _ => new JsonArray(JsonValue.Create(1L << 40), JsonValue.Create(1L << 40)),
    };

    /// <summary>Replaces, removes or duplicates one node of a JSON document (text in, text out); or a textual mutation.</summary>
    public static string Json(Random r, string text)
    {
        if (r.Next(5) == 0)
        {
            // Textual: duplicate a key (System.Text.Json keeps the last by default in JsonNode, readers may differ), or cut.
            return r.Next(2) == 0 ? DuplicateKey(r, text) : text[..r.Next(text.Length + 1)];
        }
        JsonNode? root;
        try { root = JsonNode.Parse(text); } catch (System.Text.Json.JsonException) { return text; }
        if (root is null) return text;
        var nodes = new List<JsonNode>();
        void Walk(JsonNode n) { nodes.Add(n); if (n is JsonObject o) foreach (var kv in o.ToList()) { if (kv.Value is not null) Walk(kv.Value); } else if (n is JsonArray a) foreach (var e in a.ToList()) if (e is not null) Walk(e); }
        Walk(root);
        var target = nodes[r.Next(nodes.Count)];
        var parent = target.Parent;
        if (parent is JsonObject po)
        {
            string key = po.First(kv => ReferenceEquals(kv.Value, target)).Key;
            if (r.Next(4) == 0) po.Remove(key); else po[key] = Value(r);
        }
        else if (parent is JsonArray pa)
        {
            int i = pa.IndexOf(target);
            switch (r.Next(3))
            {
                case 0: pa.RemoveAt(i); break;
                case 1: pa.Add(target.DeepClone()); break;
                default: pa[i] = Value(r); break;
            }
        }
        else return Value(r)?.ToJsonString() ?? "null";
        return root.ToJsonString();
    }

    private static string DuplicateKey(Random r, string text)
    {
        int i = text.IndexOf('"', r.Next(Math.Max(1, text.Length)));
        if (i < 0) return text;
        int j = text.IndexOf('"', i + 1);
        int colon = j < 0 ? -1 : text.IndexOf(':', j);
        if (colon < 0) return text;
        int end = colon + 1, depth = 0;
        while (end < text.Length && !(depth == 0 && (text[end] == ',' || text[end] == '}')))
        {
            if (text[end] is '{' or '[') depth++;
            else if (text[end] is '}' or ']') depth--;
            end++;
        }
        return text[..end] + "," + text[i..end] + text[end..];
    }

    /// <summary>UTF-8 bytes of a string.</summary>
    public static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
}
