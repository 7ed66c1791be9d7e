using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>
/// Random Fourier-feature positional encoding (Tancik et al. 2020, eq. 5), as SAM encodes coordinates:
/// γ(v) = [sin(2π·(2v − 1)G), cos(2π·(2v − 1)G)] for v ∈ [0, 1]², with a fixed Gaussian matrix G [2, C/2].
/// </summary>
public sealed class PositionEmbeddingRandom : Module<torch.Tensor, torch.Tensor>
{
    private readonly torch.Tensor positional_encoding_gaussian_matrix;

    /// <summary>Creates the encoding with <paramref name="features"/> frequencies (output width 2·features).</summary>
    public PositionEmbeddingRandom(int features, double scale = 1.0) : base(nameof(PositionEmbeddingRandom))
    {
        positional_encoding_gaussian_matrix = torch.randn(2, features) * scale;
        RegisterComponents();
    }

    /// <summary>The Gaussian matrix G [2, C/2] (the buffer <c>positional_encoding_gaussian_matrix</c>).</summary>
    public torch.Tensor GaussianMatrix => positional_encoding_gaussian_matrix;

    /// <summary>Encodes normalised coordinates [..., 2] (x first) in [0, 1].</summary>
    public override torch.Tensor forward(torch.Tensor coords)
    {
        using var scope = torch.NewDisposeScope();
        // Scalars are held for the whole call: a temporary Scalar may be finalized by the GC on another
        // thread while libtorch still reads it ("Unknown scalar type"), which the server's threads hit.
        using var two = 2.0.ToScalar();
        using var one = 1.0.ToScalar();
        using var twoPi = (2 * Math.PI).ToScalar();
        var c = torch.matmul(coords * two - one, positional_encoding_gaussian_matrix) * twoPi;
        return torch.cat([c.sin(), c.cos()], -1).MoveToOuterDisposeScope();
    }

    /// <summary>Encoding of the cell centres of an h × w grid: [C, h, w].</summary>
    public torch.Tensor Grid(int h, int w)
    {
        using var scope = torch.NewDisposeScope();
        var device = positional_encoding_gaussian_matrix.device;
        using var half = 0.5f.ToScalar();
        using var hs = ((float)h).ToScalar();
        using var ws = ((float)w).ToScalar();
        var y = ((torch.arange(h, torch.ScalarType.Float32, device) + half) / hs).view(h, 1).expand(h, w);
        var x = ((torch.arange(w, torch.ScalarType.Float32, device) + half) / ws).view(1, w).expand(h, w);
        return forward(torch.stack([x, y], -1)).permute(2, 0, 1).MoveToOuterDisposeScope();
    }

    /// <summary>Encodes pixel coordinates [B, N, 2] (x, y) of an image of <paramref name="imageSize"/> (h, w).</summary>
    public torch.Tensor WithCoords(torch.Tensor coords, (int H, int W) imageSize)
    {
        using var scope = torch.NewDisposeScope();
        // Divided in the coordinates' own precision (float64 from the automatic mask generator), then float32.
        var c = coords.is_floating_point() ? coords : coords.to(torch.ScalarType.Float32);
        using var width = ((double)imageSize.W).ToScalar();
        using var height = ((double)imageSize.H).ToScalar();
        var normalised = torch.stack([c[.., .., 0] / width, c[.., .., 1] / height], -1);
        return forward(normalised.to(torch.ScalarType.Float32)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// SAM's prompt encoder (Kirillov et al. 2023, §3 and App. A): points and box corners become sparse tokens
/// (positional encoding plus a learned embedding per kind: negative, positive, top-left, bottom-right,
/// and "not a point" for padding), a low-resolution mask becomes a dense embedding by two strided
/// convolutions (or the learned "no mask" embedding everywhere).
/// </summary>
public sealed class PromptEncoder : Module
{
    private readonly PositionEmbeddingRandom pe_layer;
    private readonly ModuleList<Embedding> point_embeddings;
    private readonly Embedding not_a_point_embed;
    private readonly Sequential mask_downscaling;
    private readonly Embedding no_mask_embed;
    private readonly int _dim;
    private readonly Lock _densePeLock = new();
    private DensePeCache? _densePe;

    /// <summary>Image-embedding grid (h, w).</summary>
    public (int H, int W) EmbeddingSize { get; }

    /// <summary>Padded model-input size (h, w) that point coordinates refer to.</summary>
    public (int H, int W) InputSize { get; }

    /// <summary>Size of a mask prompt: 4× the embedding grid.</summary>
    public (int H, int W) MaskInputSize => (4 * EmbeddingSize.H, 4 * EmbeddingSize.W);

    /// <summary>The coordinate encoding.</summary>
    public PositionEmbeddingRandom PositionalEncoding => pe_layer;

    /// <summary>Creates the encoder.</summary>
    public PromptEncoder(int dim, (int H, int W) embeddingSize, (int H, int W) inputSize, int maskInChannels) : base(nameof(PromptEncoder))
    {
        _dim = dim;
        EmbeddingSize = embeddingSize;
        InputSize = inputSize;
        pe_layer = new PositionEmbeddingRandom(dim / 2);
        point_embeddings = new ModuleList<Embedding>([.. Enumerable.Range(0, 4).Select(_ => Embedding(1, dim))]);
        not_a_point_embed = Embedding(1, dim);
        mask_downscaling = Sequential(
            ("0", Conv2d(1, maskInChannels / 4, 2, stride: 2)),
            ("1", new LayerNorm2d(maskInChannels / 4)),
            ("2", GELU()),
            ("3", Conv2d(maskInChannels / 4, maskInChannels, 2, stride: 2)),
            ("4", new LayerNorm2d(maskInChannels)),
            ("5", GELU()),
            ("6", Conv2d(maskInChannels, dim, 1)));
        no_mask_embed = Embedding(1, dim);
        RegisterComponents();
    }

    /// <summary>
    /// Positional encoding of the image-embedding grid [1, C, h, w] (the decoder's image PE), channels-last in memory as the
    /// decoder reads it. It depends on the Gaussian matrix alone, so it is computed once and kept until the matrix
    /// changes (weights loaded, the model moved or converted, any in-place change: each call compares the matrix with
    /// the one the encoding came from, 2 × C/2 numbers). The result is a view of the kept encoding: read it, never write to it.
    /// </summary>
    public torch.Tensor DensePositionalEncoding()
    {
        var g = pe_layer.GaussianMatrix;
        lock (_densePeLock)
        {
            if (_densePe is null || !_densePe.CameFrom(g))
            {
                _densePe?.Dispose();
                _densePe = null;
                using var scope = torch.NewDisposeScope();
                using var noGrad = torch.no_grad();
                var tokens = pe_layer.Grid(EmbeddingSize.H, EmbeddingSize.W).permute(1, 2, 0).contiguous().unsqueeze(0); // [1, h, w, C]
                _densePe = new DensePeCache(g.clone().DetachFromDisposeScope(), tokens.DetachFromDisposeScope());
            }
            return _densePe.Tokens.permute(0, 3, 1, 2);
        }
    }

    // The dense positional encoding [1, h, w, C] and a copy of the Gaussian matrix it was computed from.
    private sealed class DensePeCache(torch.Tensor source, torch.Tensor tokens) : IDisposable
    {
        public torch.Tensor Tokens { get; } = tokens;

        public bool CameFrom(torch.Tensor g) =>
            g.device_type == source.device_type && g.device_index == source.device_index && g.dtype == source.dtype && g.shape.SequenceEqual(source.shape) && g.allclose(source, rtol: 0, atol: 0, equal_nan: true);

        public void Dispose()
        {
            source.Dispose();
            Tokens.Dispose();
        }
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            lock (_densePeLock)
            {
                _densePe?.Dispose();
                _densePe = null;
            }
        }
        base.Dispose(disposing);
    }

    /// <summary>
    /// Sparse [B, n, C] and dense [B, C, h, w] embeddings of the prompts. Points are (coords [B, N, 2] in
    /// model-input pixels, labels [B, N]: 1 positive, 0 negative, −1 padding); boxes [B, 4] (x0, y0, x1, y1);
    /// masks [B, 1, 4h, 4w] low-resolution logits. Points without a box get a padding point appended.
    /// Any may be null; with none, the batch is 1 and the sparse embedding is empty.
    /// </summary>
    public (torch.Tensor Sparse, torch.Tensor Dense) forward(torch.Tensor? pointCoords, torch.Tensor? pointLabels, torch.Tensor? boxes, torch.Tensor? masks)
    {
        using var scope = torch.NewDisposeScope();
        if ((pointCoords is null) != (pointLabels is null)) throw new ArgumentException("point coordinates and labels go together");
        var device = no_mask_embed.weight!.device;
        long batch = pointCoords?.shape[0] ?? boxes?.shape[0] ?? masks?.shape[0] ?? 1;
        var sparse = torch.empty(batch, 0, _dim, device: device);
        if (pointCoords is not null) sparse = torch.cat([sparse, EmbedPoints(pointCoords, pointLabels!, pad: boxes is null)], 1);
        if (boxes is not null) sparse = torch.cat([sparse, EmbedBoxes(boxes)], 1);
        var dense = EmbedDense(masks, batch);
        return (sparse.MoveToOuterDisposeScope(), dense.MoveToOuterDisposeScope());
    }

    private torch.Tensor EmbedPoints(torch.Tensor coords, torch.Tensor labels, bool pad)
    {
        labels = labels.to(torch.ScalarType.Int64);
        if (pad)
        {
            long b = coords.shape[0];
            coords = torch.cat([coords.is_floating_point() ? coords : coords.to(torch.ScalarType.Float32), torch.zeros(b, 1, 2, coords.is_floating_point() ? coords.dtype : torch.ScalarType.Float32, coords.device)], 1);
            labels = torch.cat([labels, -torch.ones(b, 1, torch.ScalarType.Int64, device: labels.device)], 1);
        }
        return EmbedLabeled(coords, labels);
    }

    private torch.Tensor EmbedBoxes(torch.Tensor boxes)
    {
        var corners = boxes.reshape(-1, 2, 2);
        var labels = torch.tensor(new long[] { 2, 3 }, device: boxes.device).unsqueeze(0).expand(corners.shape[0], 2);
        return EmbedLabeled(corners, labels);
    }

    /// <summary>
    /// Sparse tokens [B, N, C] of labelled coordinates [B, N, 2] (model-input pixels): label 1 positive
    /// point, 0 negative point, 2 and 3 the top-left and bottom-right box corners, −1 padding (its
    /// encoding replaced by "not a point"). Official prompts are this with points first, then the box
    /// corners, then one padding point when there is no box; a batch may mix points and boxes this way.
    /// </summary>
    public torch.Tensor EmbedLabeled(torch.Tensor coords, torch.Tensor labels)
    {
        using var scope = torch.NewDisposeScope();
        using var half = 0.5.ToScalar();
        coords = (coords.is_floating_point() ? coords : coords.to(torch.ScalarType.Float32)) + half;
        var pe = pe_layer.WithCoords(coords, InputSize);
        var l = labels.to(torch.ScalarType.Int64).unsqueeze(-1);
        using var padding = (-1L).ToScalar();
        pe = torch.where(l.eq(padding), not_a_point_embed.weight!.view(1, 1, -1).expand_as(pe), pe);
        for (int kind = 0; kind < 4; kind++)
        {
            using var k = ((long)kind).ToScalar();
            pe = pe + l.eq(k).to(pe.dtype) * point_embeddings[kind].weight!.view(1, 1, -1);
        }
        return pe.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Dense embedding: the mask branch on low-resolution logits [B, 1, 4h, 4w], or "no mask" everywhere for a batch of
    /// <paramref name="batch"/>. The latter is a broadcast view of the learned embedding (nothing is copied; read-only).
    /// </summary>
    public torch.Tensor EmbedDense(torch.Tensor? masks, long batch)
    {
        if (masks is not null) return mask_downscaling.forward(masks);
        using var w = no_mask_embed.weight!.reshape(1, -1, 1, 1);
        return w.expand(batch, -1, EmbeddingSize.H, EmbeddingSize.W);
    }
}
