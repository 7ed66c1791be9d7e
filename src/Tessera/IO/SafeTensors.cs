using System.Buffers.Binary;
using System.Text;

namespace Tessera.IO;

/// <summary>A safetensors file read into memory: named tensors and the string metadata.</summary>
public sealed class SafeTensorFile : IDisposable
{
    /// <summary>Tensors by name, in file order.</summary>
    public IReadOnlyDictionary<string, torch.Tensor> Tensors { get; }

    /// <summary>The <c>__metadata__</c> map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    internal SafeTensorFile(Dictionary<string, torch.Tensor> tensors, Dictionary<string, string> metadata)
    {
        Tensors = tensors;
        Metadata = metadata;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in Tensors.Values) t.Dispose();
    }
}

/// <summary>
/// The safetensors format (Hugging Face): an 8-byte little-endian header length N, N bytes of UTF-8
/// JSON (<c>{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}</c>,
/// padded with spaces), then the tensors' bytes, little-endian, C order, back to back without holes.
/// Written as Python's <c>safetensors</c> writes it: metadata first, header padded with spaces to a
/// multiple of 8, tensors ordered by the reference dtype order (descending) then by name.
/// </summary>
public static class SafeTensors
{
    /// <summary>Largest header accepted (the reference implementation's limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private static readonly Dictionary<torch.ScalarType, string> DtypeNames = new()
    {
        [torch.ScalarType.Bool] = "BOOL",
        [torch.ScalarType.Byte] = "U8",
        [torch.ScalarType.Int8] = "I8",
        [torch.ScalarType.Int16] = "I16",
        [torch.ScalarType.Int32] = "I32",
        [torch.ScalarType.Int64] = "I64",
        [torch.ScalarType.Float16] = "F16",
        [torch.ScalarType.BFloat16] = "BF16",
        [torch.ScalarType.Float32] = "F32",
        [torch.ScalarType.Float64] = "F64",
    };

    private static readonly Dictionary<string, torch.ScalarType> DtypesByName = DtypeNames.ToDictionary(kv => kv.Value, kv => kv.Key);

    /// <summary>The safetensors name of a TorchSharp dtype ("F32", "BF16", …).</summary>
    public static string DtypeName(torch.ScalarType dtype) =>
        DtypeNames.TryGetValue(dtype, out string? name) ? name : throw new NotSupportedException($"dtype {dtype} has no safetensors name");

    /// <summary>Bytes per element of a dtype.</summary>
    public static int ElementSize(torch.ScalarType dtype) => dtype switch
    {
        torch.ScalarType.Bool or torch.ScalarType.Byte or torch.ScalarType.Int8 => 1,
        torch.ScalarType.Int16 or torch.ScalarType.Float16 or torch.ScalarType.BFloat16 => 2,
        torch.ScalarType.Int32 or torch.ScalarType.Float32 => 4,
        torch.ScalarType.Int64 or torch.ScalarType.Float64 => 8,
        _ => throw new NotSupportedException($"dtype {dtype} is not supported"),
    };

    /// <summary>Writes tensors (and optional metadata) to a stream in safetensors layout.</summary>
    public static void Write(Stream output, IEnumerable<KeyValuePair<string, torch.Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, _) in list)
        {
            if (name == "__metadata__") throw new TesseraUserException(nameof(tensors), "'__metadata__' cannot name a tensor");
            if (!names.Add(name)) throw new TesseraUserException(nameof(tensors), $"tensor name '{name}' appears twice");
        }
        // The reference writer orders tensors by its Dtype enum, descending, then by name.
        list.Sort((a, b) =>
        {
            int byType = RustDtypeRank(b.Value.dtype).CompareTo(RustDtypeRank(a.Value.dtype));
            return byType != 0 ? byType : string.CompareOrdinal(a.Key, b.Key);
        });

        byte[] header = BuildHeader(list, metadata);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
        output.Write(length);
        output.Write(header);
        foreach (var (_, tensor) in list)
        {
            using var scope = torch.NewDisposeScope();
            var cpu = tensor.detach().cpu().contiguous();
            output.Write(cpu.bytes);
        }
    }

    /// <summary>Position of a dtype in the reference implementation's Dtype enum (BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64).</summary>
    private static int RustDtypeRank(torch.ScalarType dtype) => dtype switch
    {
        torch.ScalarType.Bool => 0,
        torch.ScalarType.Byte => 1,
        torch.ScalarType.Int8 => 2,
        torch.ScalarType.Int16 => 5,
        torch.ScalarType.Float16 => 7,
        torch.ScalarType.BFloat16 => 8,
        torch.ScalarType.Int32 => 9,
        torch.ScalarType.Float32 => 11,
        torch.ScalarType.Float64 => 12,
        torch.ScalarType.Int64 => 13,
        _ => throw new NotSupportedException($"dtype {dtype} is not supported"),
    };

    private static byte[] BuildHeader(List<KeyValuePair<string, torch.Tensor>> list, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) json.WriteString(k, v);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, tensor) in list)
            {
                long bytes = tensor.numel() * ElementSize(tensor.dtype);
                json.WriteStartObject(name);
                json.WriteString("dtype", DtypeName(tensor.dtype));
                json.WriteStartArray("shape");
                foreach (long d in tensor.shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        int pad = (int)((8 - buffer.Length % 8) % 8);
        for (int i = 0; i < pad; i++) buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }

    /// <summary>Writes a safetensors file atomically (temporary file, then rename).</summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, torch.Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        AtomicFile.Write(path, stream => Write(stream, tensors, metadata));

    /// <summary>A tensor's entry in the header.</summary>
    /// <param name="Name">Tensor name.</param>
    /// <param name="Dtype">safetensors dtype name.</param>
    /// <param name="Shape">Shape.</param>
    /// <param name="Begin">Start offset in the data buffer.</param>
    /// <param name="End">End offset (exclusive).</param>
    public sealed record Entry(string Name, string Dtype, long[] Shape, long Begin, long End);

    /// <summary>Reads and validates the header of a safetensors file.</summary>
    /// <exception cref="TesseraFormatException">Anything that breaks the specification, naming the field.</exception>
    public static (List<Entry> Entries, Dictionary<string, string> Metadata, long DataStart) ReadHeader(string path)
    {
        if (!File.Exists(path)) throw new TesseraFormatException(path, "file not found");
        using var file = File.OpenRead(path);
        return ReadHeader(file, path);
    }

    private static (List<Entry>, Dictionary<string, string>, long) ReadHeader(FileStream file, string path)
    {
        long fileLength = file.Length;
        Span<byte> len = stackalloc byte[8];
        if (file.Read(len) < 8) throw new TesseraFormatException(path, "not a safetensors file: shorter than the 8-byte header length");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(len);
        if (n > MaxHeaderBytes) throw new TesseraFormatException(path, $"not a safetensors file: header length {n} exceeds {MaxHeaderBytes}");
        if ((long)n > fileLength - 8) throw new TesseraFormatException(path, $"truncated safetensors file: header length {n} but only {fileLength - 8} bytes follow");
        byte[] header = new byte[n];
        file.ReadExactly(header);
        if (n == 0 || header[0] != (byte)'{') throw new TesseraFormatException(path, "safetensors header does not start with '{'");

        var entries = new List<Entry>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(header.AsMemory().TrimEnd((byte)' ')); }
        catch (JsonException e) { throw new TesseraFormatException(path, $"safetensors header is not valid JSON ({e.Message})", e); }
        using (doc)
            try
            {
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new TesseraFormatException(path, "safetensors header is not a JSON object");
                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (JsonProperty p in doc.RootElement.EnumerateObject())
                {
                    if (!seen.Add(p.Name)) throw new TesseraFormatException(path, $"tensor '{p.Name}' appears twice in the header");
                    if (p.Name == "__metadata__")
                    {
                        if (p.Value.ValueKind != JsonValueKind.Object) throw new TesseraFormatException(path, "__metadata__ must be an object of strings");
                        foreach (JsonProperty m in p.Value.EnumerateObject())
                        {
                            if (m.Value.ValueKind != JsonValueKind.String) throw new TesseraFormatException(path, $"__metadata__.{m.Name} must be a string");
                            metadata[m.Name] = m.Value.GetString()!;
                        }
                        continue;
                    }
                    entries.Add(ParseEntry(path, p));
                }
            }
            catch (InvalidOperationException e)
            {
                // System.Text.Json meets text that is not UTF-8 only when a name or string is read.
                throw new TesseraFormatException(path, $"safetensors header is not valid UTF-8 JSON ({e.Message})", e);
            }

        long dataStart = 8 + (long)n;
        long dataLength = fileLength - dataStart;
        // The extents tile the data section: in offset order each begins where the previous one ends, the last ends at its end.
        long expected = 0;
        string? previous = null;
        foreach (Entry e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (e.End > dataLength)
                throw new TesseraFormatException(path, $"tensor '{e.Name}': data_offsets [{e.Begin}, {e.End}] reach past the data section of {dataLength} bytes (truncated file or wrong offsets)");
            if (e.Begin < expected)
                throw new TesseraFormatException(path, $"tensor '{e.Name}': data_offsets start at {e.Begin}, inside tensor '{previous}' (which ends at {expected}): tensors must not overlap");
            if (e.Begin > expected)
                throw new TesseraFormatException(path, $"tensor '{e.Name}': data_offsets start at {e.Begin}, expected {expected} ({e.Begin - expected} bytes no tensor covers; holes are not allowed)");
            expected = e.End;
            previous = e.Name;
        }
        if (expected != dataLength) throw new TesseraFormatException(path, $"data section is {dataLength} bytes but the tensors cover {expected}: {dataLength - expected} trailing bytes no tensor covers");
        return (entries, metadata, dataStart);
    }

    private static Entry ParseEntry(string path, JsonProperty p)
    {
        string where = $"tensor '{p.Name}'";
        if (p.Value.ValueKind != JsonValueKind.Object) throw new TesseraFormatException(path, $"{where}: entry is not an object");
        if (!p.Value.TryGetProperty("dtype", out JsonElement dt) || dt.ValueKind != JsonValueKind.String)
            throw new TesseraFormatException(path, $"{where}: missing string field 'dtype'");
        string dtype = dt.GetString()!;
        if (!DtypesByName.TryGetValue(dtype, out torch.ScalarType scalar))
            throw new TesseraFormatException(path, $"{where}: dtype '{dtype}' is not supported (expected one of {string.Join(", ", DtypesByName.Keys)})");
        if (!p.Value.TryGetProperty("shape", out JsonElement sh) || sh.ValueKind != JsonValueKind.Array)
            throw new TesseraFormatException(path, $"{where}: missing array field 'shape'");
        var shape = new List<long>();
        foreach (JsonElement d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long v) || v < 0)
                throw new TesseraFormatException(path, $"{where}: shape must hold non-negative integers");
            shape.Add(v);
        }
        if (!p.Value.TryGetProperty("data_offsets", out JsonElement off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new TesseraFormatException(path, $"{where}: missing field 'data_offsets' [begin, end]");
        if (off[0].ValueKind != JsonValueKind.Number || off[1].ValueKind != JsonValueKind.Number
            || !off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new TesseraFormatException(path, $"{where}: data_offsets must be two integers with 0 <= begin <= end");
        // In double first: a product of declared dimensions may overflow a long.
        if (shape.Aggregate((double)ElementSize(scalar), (a, b) => a * b) > long.MaxValue / 2)
            throw new TesseraFormatException(path, $"{where}: shape [{string.Join(", ", shape)}] is too large");
        long bytes = shape.Aggregate((long)ElementSize(scalar), (a, b) => a * b);
        if (end - begin != bytes)
            throw new TesseraFormatException(path, $"{where}: shape [{string.Join(", ", shape)}] of {dtype} needs {bytes} bytes but data_offsets span {end - begin}");
        return new Entry(p.Name, dtype, shape.ToArray(), begin, end);
    }

    /// <summary>Reads every tensor of a safetensors file onto <paramref name="device"/> (default CPU).</summary>
    /// <exception cref="TesseraFormatException">The file breaks the specification.</exception>
    public static SafeTensorFile Load(string path, torch.Device? device = null)
    {
        if (!File.Exists(path)) throw new TesseraFormatException(path, "file not found");
        using var file = File.OpenRead(path);
        var (entries, metadata, dataStart) = ReadHeader(file, path);
        var tensors = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (Entry e in entries)
            {
                var t = torch.empty(e.Shape, DtypesByName[e.Dtype]);
                file.Position = dataStart + e.Begin;
                file.ReadExactly(t.bytes);
                if (device is not null && device.type != DeviceType.CPU) { var moved = t.to(device); t.Dispose(); t = moved; }
                tensors[e.Name] = t;
            }
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
        return new SafeTensorFile(tensors, metadata);
    }
}
