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

    /// <summary>Creates a cache in <paramref name="directory"/> for the encoder identified by <paramref name="modelKey"/> (see <see cref="ModelKey"/>).</summary>
    public SamEmbeddingCache(string directory, string modelKey, EmbeddingPrecision precision = EmbeddingPrecision.Float32)
    {
        if (File.Exists(directory)) throw new TesseraUserException($"{directory}: embedding cache must be a folder, not a file");
        Directory.CreateDirectory(directory);
        _directory = directory;
        _modelKey = modelKey;
        Precision = precision;
    }

    /// <summary>SHA-256 (hex) of the image encoder's configuration and weights: names, dtypes, shapes and bytes.</summary>
    public static string ModelKey(SamModel model)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(model.Config.ToString()));
        foreach (var (name, tensor) in model.ImageEncoder.state_dict().OrderBy(p => p.Key, StringComparer.Ordinal))
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
    public torch.Tensor? TryGet(string imageKey, string variant)
    {
        string path = PathOf(imageKey, variant);
        if (!File.Exists(path)) return null;
        try
        {
            using var file = SafeTensors.Load(path);
            if (!file.Metadata.TryGetValue("image", out string? image) || image != imageKey
                || !file.Metadata.TryGetValue("model", out string? model) || model != _modelKey
                || !file.Metadata.TryGetValue("variant", out string? v) || v != variant
                || !file.Tensors.TryGetValue("embedding", out var stored))
                return null;
            var result = stored.to(torch.ScalarType.Float32, copy: true);
            Interlocked.Increment(ref _hits);
            return result;
        }
        catch (TesseraFormatException)
        {
            return null;
        }
    }

    /// <summary>Stores an embedding (atomically; converted to the cache's precision).</summary>
    public void Put(string imageKey, string variant, torch.Tensor embedding)
    {
        using var stored = embedding.detach().cpu().to(Precision == EmbeddingPrecision.Float16 ? torch.ScalarType.Float16 : torch.ScalarType.Float32).contiguous();
        var meta = new Dictionary<string, string>
        {
            ["format"] = "tessera.sam.embedding",
            ["image"] = imageKey,
            ["model"] = _modelKey,
            ["variant"] = variant,
            ["precision"] = Precision.ToString().ToLower(CultureInfo.InvariantCulture),
        };
        SafeTensors.Save(PathOf(imageKey, variant), [new("embedding", stored)], meta);
    }

    /// <summary>
    /// The embedding of (<paramref name="imageKey"/>, <paramref name="variant"/>): read from disk, or computed by
    /// <paramref name="compute"/>, stored, and returned as the cache would return it (so a first epoch and later
    /// ones see the same values in float16 too). The result is float32 on the CPU.
    /// </summary>
    public torch.Tensor GetOrCompute(string imageKey, string variant, Func<torch.Tensor> compute)
    {
        if (TryGet(imageKey, variant) is { } cached) return cached;
        using var computed = compute();
        Put(imageKey, variant, computed);
        Interlocked.Increment(ref _misses);
        return computed.detach().cpu().to(Precision == EmbeddingPrecision.Float16 ? torch.ScalarType.Float16 : torch.ScalarType.Float32)
            .to(torch.ScalarType.Float32, copy: true);
    }
}
