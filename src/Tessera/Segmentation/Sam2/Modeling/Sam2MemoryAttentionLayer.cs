using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam2.Modeling;

/// <summary>
/// One layer of SAM 2's memory attention (Ravi et al. 2024, §4): pre-norm self-attention over the current frame's
/// tokens, pre-norm cross-attention to the memory (spatial memories with their position encoding added to the keys;
/// object pointers unrotated), pre-norm ReLU MLP, each added back (parameter names as the official
/// <c>MemoryAttentionLayer</c>'s).
/// </summary>
public sealed class Sam2MemoryAttentionLayer : Module<torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor>
{
    private readonly Sam2RopeAttention self_attn, cross_attn_image;
    private readonly Linear linear1, linear2;
    private readonly LayerNorm norm1, norm2, norm3;

    /// <summary>Creates the layer of width <paramref name="dim"/> for memories of width <paramref name="memoryDim"/>.</summary>
    public Sam2MemoryAttentionLayer(int dim, int memoryDim, int feedForward, int heads, double ropeTheta = 10000) : base(nameof(Sam2MemoryAttentionLayer))
    {
        self_attn = new Sam2RopeAttention(dim, heads, dim, repeatKeys: false, ropeTheta);
        cross_attn_image = new Sam2RopeAttention(dim, heads, memoryDim, repeatKeys: true, ropeTheta);
        linear1 = Linear(dim, feedForward);
        linear2 = Linear(feedForward, dim);
        norm1 = LayerNorm(dim);
        norm2 = LayerNorm(dim);
        norm3 = LayerNorm(dim);
        RegisterComponents();
    }

    /// <summary>The layer on tokens [B, N, C] with position encoding [B, N, C] over memory [B, M, C_mem] with its encoding.</summary>
    public override torch.Tensor forward(torch.Tensor tokens, torch.Tensor memory, torch.Tensor memoryPos) => Forward(tokens, memory, memoryPos, 0);

    /// <summary>As <see cref="forward"/>, the last <paramref name="numObjPtrTokens"/> memory tokens (object pointers) unrotated.</summary>
    public torch.Tensor Forward(torch.Tensor tokens, torch.Tensor memory, torch.Tensor memoryPos, long numObjPtrTokens)
    {
        using var scope = torch.NewDisposeScope();
        // x ← x + SelfAttn(LN(x)) (sam2.1: no position encoding added to q and k; RoPE carries position)
        var t = norm1.forward(tokens);
        var x = tokens + self_attn.Forward(t, t, t, 0);
        // x ← x + CrossAttn(LN(x), memory + pos, memory)
        t = norm2.forward(x);
        x = x + cross_attn_image.Forward(t, memory + memoryPos, memory, numObjPtrTokens);
        // x ← x + W₂ ReLU(W₁ LN(x))
        x = x + linear2.forward(functional.relu(linear1.forward(norm3.forward(x))));
        return x.MoveToOuterDisposeScope();
    }
}
