using Tessera.Segmentation.Sam.Inference;
using TorchSharp;

namespace Tessera.Server;

/// <summary>
/// One uploaded image: its pixels, a predictor holding its embedding, and the low-resolution logits of its
/// recent predictions (the <c>mask_input</c> handles a client sends back with its next click).
/// </summary>
/// <param name="id">The id.</param>
/// <param name="rgb">The pixels.</param>
/// <param name="predictor">The predictor, its image set.</param>
/// <param name="featureBytes">Bytes of the predictor's image features.</param>
public sealed class CachedImage(string id, torch.Tensor rgb, ISamPredictor predictor, long featureBytes) : IDisposable
{
    /// <summary>Logit handles kept per image (older ones are forgotten).</summary>
    public const int MaxHandles = 8;

    private readonly LinkedList<(string Handle, torch.Tensor Logits)> _handles = new();
    private int _next;

    /// <summary>The id (a hash of the uploaded bytes).</summary>
    public string Id { get; } = id;

    /// <summary>uint8 RGB [3, H, W] on the CPU.</summary>
    public torch.Tensor Rgb { get; } = rgb;

    /// <summary>The predictor, its image set.</summary>
    public ISamPredictor Predictor { get; } = predictor;

    /// <summary>Bytes held: pixels, image features and the kept logits.</summary>
    public long Bytes => Rgb.NumberOfElements + featureBytes + _handles.Sum(h => h.Logits.NumberOfElements * h.Logits.ElementSize);

    /// <summary>Keeps low-resolution logits [1, 4h, 4w] (moved out of any dispose scope) and returns their handle.</summary>
    public string Keep(torch.Tensor logits)
    {
        string handle = $"{Id}.{++_next}";
        logits.DetachFromDisposeScope();
        _handles.AddLast((handle, logits));
        while (_handles.Count > MaxHandles)
        {
            _handles.First!.Value.Logits.Dispose();
            _handles.RemoveFirst();
        }
        return handle;
    }

    /// <summary>The logits of <paramref name="handle"/>.</summary>
    /// <exception cref="ApiException">404: unknown or forgotten handle.</exception>
    public torch.Tensor Logits(string handle)
    {
        foreach (var (h, t) in _handles)
            if (h == handle) return t;
        throw new ApiException(404, $"mask_input '{handle}' is unknown or was forgotten (the last {MaxHandles} predictions of an image are kept); predict without it", "unknown_mask_input");
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Predictor.Dispose();
        Rgb.Dispose();
        foreach (var (_, t) in _handles) t.Dispose();
        _handles.Clear();
    }
}

/// <summary>
/// Least-recently-used cache of image embeddings under a byte budget. The newest image stays even when it alone
/// exceeds the budget. Evicted ids are remembered (ids only) so that a request for one gets a clear 404.
/// </summary>
public sealed class EmbeddingCache(long budgetBytes) : IDisposable
{
    private readonly Lock _lock = new();
    private readonly LinkedList<CachedImage> _order = new();
    private readonly Dictionary<string, LinkedListNode<CachedImage>> _byId = [];
    private readonly HashSet<string> _evicted = [];

    /// <summary>The budget in bytes.</summary>
    public long BudgetBytes { get; } = budgetBytes;

    /// <summary>Images held.</summary>
    public int Count { get { lock (_lock) return _byId.Count; } }

    /// <summary>Bytes held.</summary>
    public long Bytes { get { lock (_lock) return _order.Sum(e => e.Bytes); } }

    /// <summary>Images evicted since start.</summary>
    public long Evictions { get; private set; }

    /// <summary>The image <paramref name="id"/>, now the most recently used.</summary>
    /// <exception cref="ApiException">404: never uploaded, or evicted.</exception>
    public CachedImage Get(string id)
    {
        lock (_lock)
        {
            if (_byId.TryGetValue(id, out var node))
            {
                _order.Remove(node);
                _order.AddFirst(node);
                return node.Value;
            }
            if (_evicted.Contains(id))
                throw new ApiException(404, $"image '{id}' was evicted from the embedding cache (limit {BudgetBytes / (1024 * 1024)} MiB); upload it again", "evicted");
            throw new ApiException(404, $"image '{id}' is unknown; upload it first with POST /api/sam/images", "unknown_image");
        }
    }

    /// <summary>True (and the image, now most recent) when <paramref name="id"/> is held.</summary>
    public bool TryGet(string id, out CachedImage? image)
    {
        lock (_lock)
        {
            if (!_byId.ContainsKey(id)) { image = null; return false; }
        }
        image = Get(id);
        return true;
    }

    /// <summary>Adds <paramref name="image"/> as the most recent and evicts from the other end down to the budget.</summary>
    public void Add(CachedImage image)
    {
        lock (_lock)
        {
            if (_byId.Remove(image.Id, out var old))
            {
                _order.Remove(old);
                old.Value.Dispose();
            }
            _byId[image.Id] = _order.AddFirst(image);
            _evicted.Remove(image.Id);
            Trim();
        }
    }

    /// <summary>Evicts least-recently-used images until the cache fits its budget (after an image grew).</summary>
    public void Trim()
    {
        lock (_lock)
        {
            long bytes = _order.Sum(e => e.Bytes);
            while (bytes > BudgetBytes && _order.Count > 1)
            {
                var last = _order.Last!.Value;
                bytes -= last.Bytes;
                _order.RemoveLast();
                _byId.Remove(last.Id);
                _evicted.Add(last.Id);
                Evictions++;
                last.Dispose();
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var e in _order) e.Dispose();
            _order.Clear();
            _byId.Clear();
        }
    }
}
