using System.Text.Json.Nodes;

namespace Tessera.IO;

/// <summary>
/// Raw little-endian float64 arrays with a JSON header beside them (<c>name.bin</c> + <c>name.json</c>
/// holding <c>shape</c> and <c>dtype</c>), the interchange form of Tessera's diffusion fixtures and of
/// <c>tessera diffusion analytic</c>.
/// </summary>
internal static class RawArray
{
    /// <summary>The header path for a .bin path (same name, .json).</summary>
    public static string HeaderPath(string binPath) => Path.ChangeExtension(binPath, ".json");

    /// <summary>Reads a float64 array into a CPU tensor, checking the header against the file size.</summary>
    /// <exception cref="TesseraFormatException">Missing header, wrong dtype, or a size that disagrees with the shape.</exception>
    public static torch.Tensor ReadFloat64(string binPath)
    {
        string header = HeaderPath(binPath);
        if (!File.Exists(binPath)) throw new TesseraFormatException(binPath, "file not found");
        if (!File.Exists(header)) throw new TesseraFormatException(header, $"header for {Path.GetFileName(binPath)} not found (expected shape and dtype)");
        long[] shape;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(header));
            var root = doc.RootElement;
            if (!root.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
                throw new TesseraFormatException(header, "missing field 'shape'");
            shape = sh.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out long v) && v >= 0 ? v
                : throw new TesseraFormatException(header, $"shape holds {e.GetRawText()}; expected non-negative integers")).ToArray();
            if (root.TryGetProperty("dtype", out var dt) && dt.GetString() is string d && d != "float64")
                throw new TesseraFormatException(header, $"dtype '{d}' is not supported; expected float64");
            if (root.TryGetProperty("byte_order", out var bo) && bo.GetString() is string b && b != "little")
                throw new TesseraFormatException(header, $"byte_order '{b}' is not supported; expected little");
        }
        catch (JsonException e)
        {
            throw new TesseraFormatException(header, $"not valid JSON ({e.Message})", e);
        }
        catch (InvalidOperationException e)
        {
            throw new TesseraFormatException(header, $"malformed header ({e.Message})", e);
        }
        long size = new FileInfo(binPath).Length;
        // In double first: the declared dimensions' product may overflow a long.
        if (shape.Aggregate(8.0, (a, x) => a * x) != size)
            throw new TesseraFormatException(binPath, $"{size} bytes, but shape [{string.Join(", ", shape)}] of float64 needs {shape.Aggregate(8.0, (a, x) => a * x):G}");
        long count = shape.Aggregate(1L, (a, x) => a * x);
        if (size != count * 8)
            throw new TesseraFormatException(binPath, $"{size} bytes, but shape [{string.Join(", ", shape)}] of float64 needs {count * 8}");
        var t = torch.empty(shape, torch.ScalarType.Float64);
        using (var f = File.OpenRead(binPath)) f.ReadExactly(t.bytes);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
        return t;
    }

    /// <summary>Writes a tensor as float64 .bin plus its .json header (both atomically).</summary>
    public static void WriteFloat64(string binPath, torch.Tensor tensor, string? description = null)
    {
        using var scope = torch.NewDisposeScope();
        var t = tensor.detach().cpu().to(torch.ScalarType.Float64).contiguous();
        AtomicFile.WriteAllBytes(binPath, t.bytes);
        var header = new JsonObject
        {
            ["file"] = Path.GetFileName(binPath),
            ["dtype"] = "float64",
            ["byte_order"] = "little",
            ["layout"] = "C (row-major, last index fastest)",
            ["shape"] = new JsonArray(t.shape.Select(d => (JsonNode)d).ToArray()),
            ["count"] = t.numel(),
        };
        if (description is not null) header["description"] = description;
        AtomicFile.WriteAllText(HeaderPath(binPath), header.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }
}
