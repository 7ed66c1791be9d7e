using Tessera.Layers;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>The order in which a <see cref="DecoderAttention"/> evaluates its products.</summary>
public enum DecoderAttentionOrder
{
    /// <summary>Project queries, keys and values, attend per head, project the output.</summary>
    Direct,
    /// <summary>Few queries over many keys: the query side folded into the key and value projections.</summary>
    FewQueries,
    /// <summary>Few keys for many queries: the key and value side folded into the query and output projections.</summary>
    FewKeys,
}

/// <summary>
/// Attention with separate q/k/v projections to an internal width (the embedding width over the
/// downsample rate): softmax(q kᵀ/√d_head) v, then an output projection (Vaswani et al. 2017, eq. 1).
/// </summary>
/// <remarks>
/// SAM's cross-attentions pair a handful of prompt tokens with thousands of image tokens. When one side has fewer
/// tokens times heads than the internal width, the projections of that side are folded into the other side's
/// weights (products are associative), so the long side is multiplied once by a narrow matrix instead of being
/// projected to the internal width: <see cref="forward"/> picks the cheaper order, <see cref="Direct(torch.Tensor, torch.Tensor, torch.Tensor)"/> is the
/// textbook one. They differ by float rounding only (tested within 1e-5).
/// </remarks>
public class DecoderAttention : Module<torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor>
{
    private readonly Linear q_proj, k_proj, v_proj, out_proj;
    private readonly int _heads, _inner;

    /// <summary>Creates the layer.</summary>
    public DecoderAttention(int dim, int heads, int downsampleRate = 1) : this(dim, heads, dim, downsampleRate, nameof(DecoderAttention)) { }

    /// <summary>Creates the layer with keys and values of width <paramref name="kvDim"/> (SAM 2's <c>kv_in_dim</c>).</summary>
    private protected DecoderAttention(int dim, int heads, int kvDim, int downsampleRate, string name) : base(name)
    {
        int inner = dim / downsampleRate;
        if (inner % heads != 0) throw new TesseraUserException(nameof(heads), $"attention width {inner} does not split into {heads} heads");
        _heads = heads;
        _inner = inner;
        q_proj = Linear(dim, inner);
        k_proj = Linear(kvDim, inner);
        v_proj = Linear(kvDim, inner);
        out_proj = Linear(inner, dim);
        RegisterComponents();
    }

    /// <summary>Width of one head.</summary>
    private protected int HeadDim => _inner / _heads;

    private torch.Tensor Heads(torch.Tensor x) => x.reshape(x.shape[0], x.shape[1], _heads, -1).transpose(1, 2);

    /// <summary>
    /// The order <see cref="forward"/> takes for <paramref name="queries"/> over <paramref name="keys"/> tokens (equal batches):
    /// a fold when that side's tokens times heads are fewer than the internal width and than the other side's tokens.
    /// </summary>
    public DecoderAttentionOrder OrderFor(long queries, long keys) =>
        _heads * queries < _inner && keys > _heads * queries ? DecoderAttentionOrder.FewQueries
        : _heads * keys < _inner && queries > _heads * keys ? DecoderAttentionOrder.FewKeys
        : DecoderAttentionOrder.Direct;

    /// <summary>Attention of queries [B, Nq, C] over keys and values [B, Nk, C], in the cheaper order (<see cref="OrderFor"/>).</summary>
    public override torch.Tensor forward(torch.Tensor q, torch.Tensor k, torch.Tensor v)
    {
        if (q.shape[0] != k.shape[0] || k.shape[0] != v.shape[0]) return Direct(q, k, v);
        return OrderFor(q.shape[1], k.shape[1]) switch
        {
            DecoderAttentionOrder.FewQueries => FewQueries(q, k, v),
            DecoderAttentionOrder.FewKeys => FewKeys(q, k, v),
            _ => Direct(q, k, v),
        };
    }

    /// <summary>Attention in the textbook order: project q, k and v, attend per head, project the output.</summary>
    public torch.Tensor Direct(torch.Tensor q, torch.Tensor k, torch.Tensor v) => Direct(q, k, v, null);

    /// <summary>
    /// <see cref="Direct(torch.Tensor, torch.Tensor, torch.Tensor)"/> with the queries and keys [B, heads, N, d] passed
    /// through <paramref name="position"/> between the projections and the attention (a relative position encoding such as RoPE).
    /// </summary>
    private protected torch.Tensor Direct(torch.Tensor q, torch.Tensor k, torch.Tensor v, Func<torch.Tensor, torch.Tensor, (torch.Tensor Q, torch.Tensor K)>? position)
    {
        using var scope = torch.NewDisposeScope();
        var qh = Heads(q_proj.forward(q));
        var kh = Heads(k_proj.forward(k));
        var vh = Heads(v_proj.forward(v));
        if (position is not null) (qh, kh) = position(qh, kh);
        // One fused call of libtorch's scaled_dot_product_attention: softmax(q kᵀ/√d_head) v.
        var o = functional.scaled_dot_product_attention(qh, kh, vh).transpose(1, 2);
        o = o.reshape(o.shape[0], o.shape[1], -1);
        return out_proj.forward(o).MoveToOuterDisposeScope();
    }

    // Few queries (tokens → image). With W_k,h the rows of head h of W_k, the logits of head h are
    //   q_h·(W_k,h x + b_k,h)/√d = (W_k,hᵀ q_h/√d)·x + q_h·b_k,h/√d,
    // and the second term is constant along the softmax axis, so it drops out. Values: Σ_n p_n (W_v,h x_n + b_v,h)
    //   = W_v,h (Σ_n p_n x_n) + b_v,h, since the p_n sum to one. The image tokens x are read twice, by [h·Nq, C] matrices.
    private torch.Tensor FewQueries(torch.Tensor q, torch.Tensor k, torch.Tensor v)
    {
        using var scope = torch.NewDisposeScope();
        long b = q.shape[0], nq = q.shape[1], c = k.shape[2];
        int d = _inner / _heads;
        using var scale = (1.0 / Math.Sqrt(d)).ToScalar();
        var qh = Heads(q_proj.forward(q)).mul(scale);                                               // [B, h, Nq, d]
        var folded = torch.matmul(qh, k_proj.weight!.view(_heads, d, c)).reshape(b, _heads * nq, c); // [B, h·Nq, C]
        var p = torch.matmul(folded, k.transpose(1, 2)).softmax(-1);                                 // [B, h·Nq, Nk]
        var pooled = torch.matmul(p, v).view(b, _heads, nq, c);                                      // [B, h, Nq, C]
        var oh = torch.matmul(pooled, v_proj.weight!.view(_heads, d, c).transpose(1, 2)) + v_proj.bias!.view(_heads, 1, d);
        return out_proj.forward(oh.transpose(1, 2).reshape(b, nq, _inner)).MoveToOuterDisposeScope();
    }

    // Few keys (image → tokens). With W_q,h the rows of head h of W_q, the logits of head h are
    //   (W_q,h x + b_q,h)·k_h/√d = x·(W_q,hᵀ k_h/√d) + b_q,h·k_h/√d,
    // and the output projection of the attended values is Σ_t p_t (W_o,h v_h,t) + b_o, with W_o,h the columns of
    // head h. The image tokens x are multiplied by an [h·Nk, C] matrix, and so are the probabilities.
    private torch.Tensor FewKeys(torch.Tensor q, torch.Tensor k, torch.Tensor v)
    {
        using var scope = torch.NewDisposeScope();
        long b = k.shape[0], nk = k.shape[1], nq = q.shape[1], c = q.shape[2];
        int d = _inner / _heads;
        using var scale = (1.0 / Math.Sqrt(d)).ToScalar();
        var kh = Heads(k_proj.forward(k)).mul(scale);                                                // [B, h, Nk, d]
        var vh = Heads(v_proj.forward(v));                                                           // [B, h, Nk, d]
        // Logits transposed, [B, h·Nk, Nq], so that the softmax over the Nk keys of a head runs along a strided axis,
        // vectorised over the image tokens (along a contiguous axis of length Nk it is a slow scalar loop).
        var at = torch.matmul(kh, q_proj.weight!.view(_heads, d, c)).reshape(b, _heads * nk, c);     // [B, h·Nk, C]
        var shift = torch.matmul(kh, q_proj.bias!.view(_heads, d, 1)).reshape(b, _heads * nk, 1);     // [B, h·Nk, 1]
        var logits = torch.matmul(at, q.transpose(1, 2)).add_(shift);                                // [B, h·Nk, Nq]
        var p = logits.view(b, _heads, nk, nq).softmax(2).view(b, _heads * nk, nq);
        var wo = out_proj.weight!.view(c, _heads, d).permute(1, 2, 0);                                // [h, d, C]
        var values = torch.matmul(vh, wo).reshape(b, _heads * nk, c);                                 // [B, h·Nk, C]
        return torch.matmul(p.transpose(1, 2), values).add_(out_proj.bias!).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// One layer of SAM's two-way transformer (Kirillov et al. 2023, App. A, Fig. 14): token self-attention,
/// token→image cross-attention, an MLP on the tokens, and image→token cross-attention, each with a
/// residual and LayerNorm; positional encodings are re-added to queries and keys at every attention
/// (except the first layer's self-attention, which replaces the tokens rather than adding to them).
/// </summary>
public sealed class TwoWayAttentionBlock : Module
{
    private readonly DecoderAttention self_attn, cross_attn_token_to_image, cross_attn_image_to_token;
    private readonly LayerNorm norm1, norm2, norm3, norm4;
    private readonly Module<torch.Tensor, torch.Tensor> mlp;
    private readonly bool _skipFirstPe;

    /// <summary>
    /// Creates the layer. <paramref name="mlpAsLayers"/>: the MLP's two layers under SAM 2's key names <c>layers.0</c>,
    /// <c>layers.1</c> (sam2_utils.MLP) rather than SAM's <c>lin1</c>, <c>lin2</c>; the same computation.
    /// </summary>
    public TwoWayAttentionBlock(int dim, int heads, int mlpDim, int downsampleRate, bool skipFirstLayerPe, bool mlpAsLayers = false) : base(nameof(TwoWayAttentionBlock))
    {
        self_attn = new DecoderAttention(dim, heads);
        norm1 = LayerNorm(dim);
        cross_attn_token_to_image = new DecoderAttention(dim, heads, downsampleRate);
        norm2 = LayerNorm(dim);
        mlp = mlpAsLayers ? new SamMlp(dim, mlpDim, dim, 2) : new Mlp(dim, mlpDim, activation: MlpActivation.Relu, names: VitBlock.SamMlpNames);
        norm3 = LayerNorm(dim);
        norm4 = LayerNorm(dim);
        cross_attn_image_to_token = new DecoderAttention(dim, heads, downsampleRate);
        _skipFirstPe = skipFirstLayerPe;
        RegisterComponents();
    }

    /// <summary>Updates (queries, keys) given their positional encodings.</summary>
    public (torch.Tensor Queries, torch.Tensor Keys) forward(torch.Tensor queries, torch.Tensor keys, torch.Tensor queryPe, torch.Tensor keyPe)
    {
        using var scope = torch.NewDisposeScope();
        if (_skipFirstPe)
        {
            queries = self_attn.forward(queries, queries, queries);
        }
        else
        {
            var q0 = queries + queryPe;
            queries = queries + self_attn.forward(q0, q0, queries);
        }
        queries = norm1.forward(queries);

        var q = queries + queryPe;
        var k = keys + keyPe; // the keys change only at the end of the layer: one sum serves both cross-attentions
        queries = norm2.forward(queries + cross_attn_token_to_image.forward(q, k, keys));

        queries = norm3.forward(queries + mlp.forward(queries));

        q = queries + queryPe;
        keys = norm4.forward(keys + cross_attn_image_to_token.forward(k, q, queries));
        return (queries.MoveToOuterDisposeScope(), keys.MoveToOuterDisposeScope());
    }
}

/// <summary>
/// SAM's two-way transformer decoder body: <c>depth</c> two-way layers, then a final token→image attention
/// and LayerNorm. Image inputs are NCHW and flattened to tokens.
/// </summary>
public sealed class TwoWayTransformer : Module
{
    private readonly ModuleList<TwoWayAttentionBlock> layers;
    private readonly DecoderAttention final_attn_token_to_image;
    private readonly LayerNorm norm_final_attn;

    /// <summary>The two-way layers.</summary>
    public IReadOnlyList<TwoWayAttentionBlock> Layers => [.. layers];

    /// <summary>Creates the transformer; <paramref name="mlpAsLayers"/> names the layers' MLPs as SAM 2 does (<see cref="TwoWayAttentionBlock"/>).</summary>
    public TwoWayTransformer(int depth, int dim, int heads, int mlpDim, int downsampleRate = 2, bool mlpAsLayers = false) : base(nameof(TwoWayTransformer))
    {
        layers = new ModuleList<TwoWayAttentionBlock>([.. Enumerable.Range(0, depth).Select(i => new TwoWayAttentionBlock(dim, heads, mlpDim, downsampleRate, i == 0, mlpAsLayers))]);
        final_attn_token_to_image = new DecoderAttention(dim, heads, downsampleRate);
        norm_final_attn = LayerNorm(dim);
        RegisterComponents();
    }

    /// <summary>
    /// Returns (token outputs [B, T, C], image tokens [B, hw, C]). The image and its encoding [B or 1, C, h, w] are read
    /// as tokens [B, hw, C]: without a copy when their memory is channels-last (<see cref="MemoryFormat.ChannelsLast"/>),
    /// otherwise after one transposing copy.
    /// </summary>
    public (torch.Tensor Tokens, torch.Tensor Image) forward(torch.Tensor image, torch.Tensor imagePe, torch.Tensor tokens)
    {
        using var scope = torch.NewDisposeScope();
        var keys = image.flatten(2).permute(0, 2, 1).contiguous();
        var keyPe = imagePe.flatten(2).permute(0, 2, 1).contiguous();
        var queries = tokens;
        foreach (var layer in layers)
            (queries, keys) = layer.forward(queries, keys, tokens, keyPe);
        var q = queries + tokens;
        var k = keys + keyPe;
        queries = norm_final_attn.forward(queries + final_attn_token_to_image.forward(q, k, keys));
        return (queries.MoveToOuterDisposeScope(), keys.MoveToOuterDisposeScope());
    }
}
