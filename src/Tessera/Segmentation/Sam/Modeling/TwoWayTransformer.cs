using Tessera.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam;

/// <summary>
/// Attention with separate q/k/v projections to an internal width (the embedding width over the
/// downsample rate): softmax(q kᵀ/√d_head) v, then an output projection (Vaswani et al. 2017, eq. 1).
/// </summary>
public sealed class DecoderAttention : Module<torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor>
{
    private readonly Linear q_proj, k_proj, v_proj, out_proj;
    private readonly int _heads;

    /// <summary>Creates the layer.</summary>
    public DecoderAttention(int dim, int heads, int downsampleRate = 1) : base(nameof(DecoderAttention))
    {
        int inner = dim / downsampleRate;
        if (inner % heads != 0) throw new ArgumentException($"attention width {inner} does not split into {heads} heads");
        _heads = heads;
        q_proj = Linear(dim, inner);
        k_proj = Linear(dim, inner);
        v_proj = Linear(dim, inner);
        out_proj = Linear(inner, dim);
        RegisterComponents();
    }

    private torch.Tensor Heads(torch.Tensor x) => x.reshape(x.shape[0], x.shape[1], _heads, -1).transpose(1, 2);

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor q, torch.Tensor k, torch.Tensor v)
    {
        using var scope = torch.NewDisposeScope();
        var qh = Heads(q_proj.forward(q));
        var kh = Heads(k_proj.forward(k));
        var vh = Heads(v_proj.forward(v));
        // One fused call of libtorch's scaled_dot_product_attention: softmax(q kᵀ/√d_head) v.
        var o = functional.scaled_dot_product_attention(qh, kh, vh).transpose(1, 2);
        o = o.reshape(o.shape[0], o.shape[1], -1);
        return out_proj.forward(o).MoveToOuterDisposeScope();
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
    private readonly Mlp mlp;
    private readonly bool _skipFirstPe;

    /// <summary>Creates the layer.</summary>
    public TwoWayAttentionBlock(int dim, int heads, int mlpDim, int downsampleRate, bool skipFirstLayerPe) : base(nameof(TwoWayAttentionBlock))
    {
        self_attn = new DecoderAttention(dim, heads);
        norm1 = LayerNorm(dim);
        cross_attn_token_to_image = new DecoderAttention(dim, heads, downsampleRate);
        norm2 = LayerNorm(dim);
        mlp = new Mlp(dim, mlpDim, activation: MlpActivation.Relu, names: VitBlock.SamMlpNames);
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
        var k = keys + keyPe;
        queries = norm2.forward(queries + cross_attn_token_to_image.forward(q, k, keys));

        queries = norm3.forward(queries + mlp.forward(queries));

        q = queries + queryPe;
        k = keys + keyPe;
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

    /// <summary>Creates the transformer.</summary>
    public TwoWayTransformer(int depth, int dim, int heads, int mlpDim, int downsampleRate = 2) : base(nameof(TwoWayTransformer))
    {
        layers = new ModuleList<TwoWayAttentionBlock>([.. Enumerable.Range(0, depth).Select(i => new TwoWayAttentionBlock(dim, heads, mlpDim, downsampleRate, i == 0))]);
        final_attn_token_to_image = new DecoderAttention(dim, heads, downsampleRate);
        norm_final_attn = LayerNorm(dim);
        RegisterComponents();
    }

    /// <summary>Returns (token outputs [B, T, C], image tokens [B, hw, C]).</summary>
    public (torch.Tensor Tokens, torch.Tensor Image) forward(torch.Tensor image, torch.Tensor imagePe, torch.Tensor tokens)
    {
        using var scope = torch.NewDisposeScope();
        var keys = image.flatten(2).permute(0, 2, 1);
        var keyPe = imagePe.flatten(2).permute(0, 2, 1);
        var queries = tokens;
        foreach (var layer in layers)
            (queries, keys) = layer.forward(queries, keys, tokens, keyPe);
        var q = queries + tokens;
        var k = keys + keyPe;
        queries = norm_final_attn.forward(queries + final_attn_token_to_image.forward(q, k, keys));
        return (queries.MoveToOuterDisposeScope(), keys.MoveToOuterDisposeScope());
    }
}
