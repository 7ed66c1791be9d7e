namespace Tessera.IO;

/// <summary>
/// The indexed tensor container of Tessera's reference fixtures: <c>name.bin</c> holds tensors back to back
/// (little-endian, C order) and <c>name.json</c> maps each name to {dtype, shape, offset, nbytes}.
/// dtypes: float32, float64, int32, int64, uint8, bool.
/// </summary>
internal static class TensorIndexFile
{
    /// <summary>Reads every tensor (CPU), in the index's order.</summary>
    /// <exception cref="TesseraFormatException">A missing file, an unknown dtype or an entry past the end of the data.</exception>
    public static Dictionary<string, torch.Tensor> Read(string binPath)
    {
        string jsonPath = Path.ChangeExtension(binPath, ".json");
        if (!File.Exists(binPath)) throw new TesseraFormatException(binPath, "file not found");
        if (!File.Exists(jsonPath)) throw new TesseraFormatException(jsonPath, "index not found");
        byte[] data = File.ReadAllBytes(binPath);
        using var doc = JsonDocument.Parse(File.ReadAllText(jsonPath));
        var result = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        foreach (JsonProperty p in doc.RootElement.EnumerateObject())
        {
            string dtype = p.Value.GetProperty("dtype").GetString() ?? "";
            long[] shape = p.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            long offset = p.Value.GetProperty("offset").GetInt64(), nbytes = p.Value.GetProperty("nbytes").GetInt64();
            torch.ScalarType type = dtype switch
            {
                "float32" => torch.ScalarType.Float32,
                "float64" => torch.ScalarType.Float64,
                "int32" => torch.ScalarType.Int32,
                "int64" => torch.ScalarType.Int64,
                "uint8" => torch.ScalarType.Byte,
                "bool" => torch.ScalarType.Bool,
                _ => throw new TesseraFormatException(jsonPath, $"'{p.Name}': dtype '{dtype}' is not supported"),
            };
            if (offset < 0 || offset + nbytes > data.Length) throw new TesseraFormatException(binPath, $"'{p.Name}' runs past the end of the data");
            var t = torch.empty(shape, type);
            if (t.numel() * t.ElementSize != nbytes) throw new TesseraFormatException(jsonPath, $"'{p.Name}': {nbytes} bytes for shape [{string.Join(", ", shape)}] of {dtype}");
            data.AsSpan((int)offset, (int)nbytes).CopyTo(t.bytes);
            result[p.Name] = t;
        }
        return result;
    }
}
