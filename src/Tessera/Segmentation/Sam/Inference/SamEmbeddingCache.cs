using System.Security.Cryptography;
using System.Text;
using Tessera.Segmentation.Sam.Modeling;

namespace Tessera.Segmentation.Sam.Inference;

/// <summary>How cached image embeddings are stored.</summary>
public enum EmbeddingPrecision
{
    /// <summary>float32: a cached embedding is bit-identical to a computed one.</summary>
    Float32,
    /// <summary>float16: half the disk and reading time, within float16 rounding (relative 2⁻¹¹) of a computed one.</summary>
    Float16,
}

/// <summary>
/// An on-disk cache of SAM image embeddings for fine-tuning with a frozen encoder: each embedding is computed
/// once per (image content, encoder weights, variant) and read back afterwards, so later epochs never run the
/// encoder. The variant names whatever else changes the encoder's input (the model input size, an
/// augmentation and its parameters). Files are safetensors named by a SHA-256 of the key, written atomically
/// (a crash leaves either no file or a whole one); an unreadable file is recomputed and replaced.
/// </summary>
public sealed class SamEmbeddingCache
{
    private readonly string _directory;
    private readonly string _modelKey;
    private long _hits, _misses;

    /// <summary>The storage precision.</summary>
    public EmbeddingPrecision Precision { get; }

    /// <summary>Embeddings read from disk so far.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>Embeddings computed (and written) so far.</summary>
    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>Creates a cache in <paramref name="directory"/> for the encoder identified by <paramref name="modelKey"/> (see <see cref="ModelKey(SamModel)"/>).</summary>
    public SamEmbeddingCache(string directory, string modelKey, EmbeddingPrecision precision = EmbeddingPrecision.Float32)
    {
        if (File.Exists(directory)) throw new TesseraUserException($"{directory}: embedding cache must be a folder, not a file");
        Directory.CreateDirectory(directory);
        _directory = directory;
        _modelKey = modelKey;
        Precision = precision;
    }

    /// <summary>SHA-256 (hex) of the image encoder's configuration and weights: names, dtypes, shapes and bytes.</summary>
    public static string ModelKey(SamModel model) => ModelKey(model.Config.ToString(), model.ImageEncoder.state_dict());

    /// <summary>
    /// SHA-256 (hex) of a configuration text and the tensors that make the cached features (any model family): the text,
    /// then each tensor's name, dtype, shape and bytes in name order.
    /// </summary>
    public static string ModelKey(string configuration, IEnumerable<KeyValuePair<string, torch.Tensor>> weights)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(configuration));
        foreach (var (name, tensor) in weights.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            using var cpu = tensor.detach().cpu().contiguous();
            hash.AppendData(Encoding.UTF8.GetBytes($"{name}|{cpu.dtype}|{string.Join(",", cpu.shape)}|"));
            hash.AppendData(cpu.bytes);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>SHA-256 (hex) of an image file's bytes.</summary>
    public static string ImageKey(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    /// <summary>SHA-256 (hex) of an image tensor's shape, dtype and pixels.</summary>
    public static string ImageKey(torch.Tensor image)
    {
        using var cpu = image.detach().cpu().contiguous();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes($"{cpu.dtype}|{string.Join(",", cpu.shape)}|"));
        hash.AppendData(cpu.bytes);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>The file holding the embedding of (<paramref name="imageKey"/>, <paramref name="variant"/>).</summary>
    public string PathOf(string imageKey, string variant)
    {
        string id = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{_modelKey}\n{imageKey}\n{variant}\n{Precision}")));
        return Path.Combine(_directory, id[..2], id + ".safetensors");
    }

    /// <summary>The cached embedding (float32, on the CPU) or null when absent or unreadable.</summary>
    public torch.Tensor? TryGet(string imageKey, string variant) => TryGetAll(imageKey, variant, [Embedding])?[Embedding];

    /// <summary>
    /// The cached features named <paramref name="names"/> (float32, on the CPU; SAM 2 keeps its high-resolution levels beside
    /// the image embedding) or null when absent, unreadable or lacking one of them.
    /// </summary>
    public Dictionary<string, torch.Tensor>? TryGetAll(string imageKey, string variant, IReadOnlyCollection<string> names)
    {
        string path = PathOf(imageKey, variant);
        if (!File.Exists(path)) return null;
        try
        {
            using var file = SafeTensors.Load(path);
            if (!file.Metadata.TryGetValue("image", out string? image) || image != imageKey
                || !file.Metadata.TryGetValue("model", out string? model) || model != _modelKey
                || !file.Metadata.TryGetValue("variant", out string? v) || v != variant
                || !names.All(file.Tensors.ContainsKey))
                return null;
            var result = names.ToDictionary(n => n, n => file.Tensors[n].to(torch.ScalarType.Float32, copy: true), StringComparer.Ordinal);
            Interlocked.Increment(ref _hits);
            return result;
        }
        catch (TesseraFormatException)
        {
            return null;
        }
    }

    /// <summary>Stores an embedding (atomically; converted to the cache's precision).</summary>
    public void Put(string imageKey, string variant, torch.Tensor embedding) =>
        PutAll(imageKey, variant, new Dictionary<string, torch.Tensor> { [Embedding] = embedding });

    /// <summary>Stores named features of one image in one file (atomically; converted to the cache's precision).</summary>
    public void PutAll(string imageKey, string variant, IReadOnlyDictionary<string, torch.Tensor> features)
    {
        using var scope = torch.NewDisposeScope();
        var stored = features.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => new KeyValuePair<string, torch.Tensor>(kv.Key, Stored(kv.Value).contiguous())).ToList();
        var meta = new Dictionary<string, string>
        {
            ["format"] = "tessera.sam.embedding",
            ["image"] = imageKey,
            ["model"] = _modelKey,
            ["variant"] = variant,
            ["precision"] = Precision.ToString().ToLower(CultureInfo.InvariantCulture),
        };
        SafeTensors.Save(PathOf(imageKey, variant), stored, meta);
    }

    /// <summary>
    /// The embedding of (<paramref name="imageKey"/>, <paramref name="variant"/>): read from disk, or computed by
    /// <paramref name="compute"/>, stored, and returned as the cache would return it (so a first epoch and later
    /// ones see the same values in float16 too). The result is float32 on the CPU.
    /// </summary>
    public torch.Tensor GetOrCompute(string imageKey, string variant, Func<torch.Tensor> compute) =>
        GetOrComputeAll(imageKey, variant, [Embedding], () => new Dictionary<string, torch.Tensor> { [Embedding] = compute() })[Embedding];

    /// <summary>
    /// Named features of (<paramref name="imageKey"/>, <paramref name="variant"/>) as <see cref="GetOrCompute"/> gives one
    /// embedding: read from disk, or computed by <paramref name="compute"/> (which must give every name of
    /// <paramref name="names"/>), stored in one file and returned as the cache would return them (float32, on the CPU).
    /// </summary>
    public Dictionary<string, torch.Tensor> GetOrComputeAll(string imageKey, string variant, IReadOnlyCollection<string> names, Func<IReadOnlyDictionary<string, torch.Tensor>> compute)
    {
        if (TryGetAll(imageKey, variant, names) is { } cached) return cached;
        var computed = compute();
        try
        {
            PutAll(imageKey, variant, computed);
            Interlocked.Increment(ref _misses);
            return names.ToDictionary(n => n, n =>
            {
                using var stored = Stored(computed[n]);
                return stored.to(torch.ScalarType.Float32, copy: true);
            }, StringComparer.Ordinal);
        }
        finally
        {
            foreach (var t in computed.Values) t.Dispose();
        }
    }

    /// <summary>The name of a plain (SAM) embedding in a cache file.</summary>
    public const string Embedding = "embedding";

    // A feature as stored: detached, on the CPU, at the cache's precision.
    private torch.Tensor Stored(torch.Tensor feature) =>
        feature.detach().cpu().to(Precision == EmbeddingPrecision.Float16 ? torch.ScalarType.Float16 : torch.ScalarType.Float32);
}
