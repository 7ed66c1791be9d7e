using Tessera.Positional;

namespace Tessera.Attention;

/// <summary>
/// Multi-head scaled dot-product attention (Vaswani et al. 2017, eq. 1) with causal and padding masks and
/// any <see cref="AttentionPosition"/>: softmax(((qkᵀ + logit terms)·scale + bias) + mask)·v + value terms.
/// Absolute encodings (sinusoidal, learned) are added to the input before this layer. The one self-attention
/// block of the library (timm's <c>layers.Attention</c>, with its key names <c>qkv</c> and <c>proj</c>): the
/// length-generalisation transformer, DiT (through <see cref="Attend"/>, with 2-D RoPE tables) and the U-Net's
/// attention over pixels (one head) use it.
/// </summary>
public sealed class MultiHeadAttention : torch.nn.Module<torch.Tensor, torch.Tensor>
{
    private readonly Linear qkv;
    private readonly Linear proj;
    private readonly AttentionPosition? position;

    /// <summary>The position encoding inside the layer, if any.</summary>
    public AttentionPosition? Position => position;

    /// <summary>Heads.</summary>
    public int Heads { get; }

    /// <summary>Whether each query sees only keys at or before its position.</summary>
    public bool Causal { get; }

    /// <summary>Creates the layer for model width <paramref name="modelDim"/>.</summary>
    public MultiHeadAttention(int modelDim, int heads, bool causal, AttentionPosition? position = null) : base(nameof(MultiHeadAttention))
    {
        if (modelDim % heads != 0) throw new TesseraUserException(nameof(heads), $"model dim {modelDim} is not divisible by {heads} heads");
        (Heads, Causal) = (heads, causal);
        qkv = torch.nn.Linear(modelDim, 3 * modelDim);
        proj = torch.nn.Linear(modelDim, modelDim);
        this.position = position;
        RegisterComponents();
    }

    /// <summary>
    /// Attends over x [B, T, D]. <paramref name="keyPadding"/> [B, T] is true where a key is padding.
    /// <paramref name="offset"/> is the position of the first token (for decoding with a cache).
    /// </summary>
    public torch.Tensor forward(torch.Tensor x, torch.Tensor? keyPadding, long offset = 0)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], t = x.shape[1], d = x.shape[2], hd = d / Heads;
        var parts = qkv.forward(x).view(b, t, 3, Heads, hd).permute(2, 0, 3, 1, 4);    // [3, B, H, T, hd]
        torch.Tensor q = parts[0], k = parts[1], v = parts[2];
        if (position is not null) (q, k) = position.Rotate(q, k, offset);
        var logits = q.matmul(k.transpose(2, 3));
        if (position?.LogitTerm(q, k, offset) is { } extra) logits = logits + extra;
        logits = logits * (position?.Scale(hd) ?? 1 / Math.Sqrt(hd));
        if (position?.Bias(Heads, t, t, offset, x.device, x.dtype) is { } bias) logits = logits + bias;
        logits = Mask(logits, keyPadding, offset);
        var weights = torch.softmax(logits, -1);
        var output = weights.matmul(v);
        if (position?.ValueTerm(weights, offset) is { } values) output = output + values;
        return proj.forward(output.transpose(1, 2).reshape(b, t, d)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x) => forward(x, null);

    /// <summary>
    /// Unmasked attention over x [B, T, D] by the fused kernel, softmax(qkᵀ/√d_h)·v (Vaswani et al. 2017, eq. 1),
    /// with queries and keys rotated by the rotary tables <paramref name="cos"/>/<paramref name="sin"/> [T, d_h/2]
    /// (<see cref="Rope.Apply"/>) when given. For layers built without a position encoding and not causal.
    /// </summary>
    /// <exception cref="InvalidOperationException">The layer is causal or has its own position encoding.</exception>
    public torch.Tensor Attend(torch.Tensor x, torch.Tensor? cos = null, torch.Tensor? sin = null, RopePairing pairing = RopePairing.Interleaved)
    {
        if (Causal || position is not null) throw new InvalidOperationException("Attend is the unmasked attention without a position encoding of its own; use forward");
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], t = x.shape[1], d = x.shape[2], hd = d / Heads;
        var parts = qkv.forward(x).view(b, t, 3, Heads, hd).permute(2, 0, 3, 1, 4);    // [3, B, H, T, hd]
        torch.Tensor q = parts[0], k = parts[1], v = parts[2];
        if (cos is not null && sin is not null)
        {
            q = Rope.Apply(q, cos, sin, pairing);
            k = Rope.Apply(k, cos, sin, pairing);
        }
        var output = torch.nn.functional.scaled_dot_product_attention(q, k, v);
        return proj.forward(output.transpose(1, 2).reshape(b, t, d)).MoveToOuterDisposeScope();
    }

    private torch.Tensor Mask(torch.Tensor logits, torch.Tensor? keyPadding, long offset)
    {
        long tq = logits.shape[2], tk = logits.shape[3];
        if (Causal)
        {
            using var qi = torch.arange(offset, offset + tq, device: logits.device).view(-1, 1);
            using var kj = torch.arange(0, tk, device: logits.device).view(1, -1);
            using var future = kj > qi;
            logits = logits.masked_fill(future, double.NegativeInfinity);
        }
        if (keyPadding is not null)
            logits = logits.masked_fill(keyPadding.view(keyPadding.shape[0], 1, 1, tk), double.NegativeInfinity);
        return logits;
    }
}
