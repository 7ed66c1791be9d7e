using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam2.Modeling;

/// <summary>
/// SAM 2's memory attention (Ravi et al. 2024, §4, "Memory attention"): conditions the current frame's image tokens on
/// the memory bank — spatial memories of past frames and object pointers — through a stack of
/// <see cref="Sam2MemoryAttentionLayer"/> and a final layer norm. Parameter names are the official ones under
/// <c>memory_attention.</c>; tensors are batch-first.
/// </summary>
public sealed class Sam2MemoryAttention : Module<torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor>
{
    private readonly ModuleList<Sam2MemoryAttentionLayer> layers;
    private readonly LayerNorm norm;

    /// <summary>Creates the stack for <paramref name="config"/>.</summary>
    public Sam2MemoryAttention(Sam2MemoryConfig config) : base(nameof(Sam2MemoryAttention))
    {
        Config = config;
        layers = new ModuleList<Sam2MemoryAttentionLayer>([.. Enumerable.Range(0, config.Layers)
            .Select(_ => new Sam2MemoryAttentionLayer(config.Dim, config.MemoryDim, config.FeedForward, config.Heads, config.RopeTheta))]);
        norm = LayerNorm(config.Dim);
        RegisterComponents();
    }

    /// <summary>The sizes.</summary>
    public Sam2MemoryConfig Config { get; }

    /// <summary>
    /// Image tokens [B, HW, C] with their position encoding [B, HW, C], over memory [B, M, C_mem] with its encoding
    /// [B, M, C_mem]; no object pointers among the memory tokens.
    /// </summary>
    public override torch.Tensor forward(torch.Tensor current, torch.Tensor currentPos, torch.Tensor memory, torch.Tensor memoryPos) =>
        Forward(current, currentPos, memory, memoryPos, 0);

    /// <summary>As <see cref="forward"/>, the last <paramref name="numObjPtrTokens"/> memory tokens being object pointers.</summary>
    public torch.Tensor Forward(torch.Tensor current, torch.Tensor currentPos, torch.Tensor memory, torch.Tensor memoryPos, long numObjPtrTokens)
    {
        if (current.shape[0] != memory.shape[0]) throw new TesseraUserException(nameof(memory), $"batch {memory.shape[0]} of the memory differs from the image's {current.shape[0]}");
        using var scope = torch.NewDisposeScope();
        // x₀ = x + 0.1·pos (pos_enc_at_input)
        var x = current + 0.1 * currentPos;
        foreach (var layer in layers) x = layer.Forward(x, memory, memoryPos, numObjPtrTokens);
        return norm.forward(x).MoveToOuterDisposeScope();
    }
}
