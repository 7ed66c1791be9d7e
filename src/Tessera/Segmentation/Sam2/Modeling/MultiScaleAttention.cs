using Tessera.Layers;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam2.Modeling;

/// <summary>
/// Hiera's multi-head self-attention over a token grid [B, H, W, C] (Ryali et al. 2023, §3; the official
/// <c>hieradet.MultiScaleAttention</c>), with optional query pooling: at a stage's first block the queries are
/// max-pooled by the query stride (the pooling attention of MViT, Fan et al. 2021: Q̂ = MaxPool(Q)), so the output grid is that much
/// smaller while keys and values keep the full grid. Keys <c>qkv</c> and <c>proj</c>.
/// </summary>
public sealed class MultiScaleAttention : Module<torch.Tensor, torch.Tensor>
{
    private readonly Linear qkv, proj;
    private readonly int _heads, _qStride;

    /// <summary>Creates the layer from <paramref name="dim"/> to <paramref name="dimOut"/> channels; <paramref name="qStride"/> 0 for no pooling.</summary>
    public MultiScaleAttention(int dim, int dimOut, int heads, int qStride = 0) : base(nameof(MultiScaleAttention))
    {
        _heads = heads;
        _qStride = qStride;
        qkv = Linear(dim, dimOut * 3);
        proj = Linear(dimOut, dimOut);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], h = x.shape[1], w = x.shape[2];
        // [B, HW, 3, heads, d]: q, k, v [B, HW, heads, d]. In inference the product runs without its bias; the queries
        // take theirs below, the keys' cancels in the softmax and the values' moves into proj's bias (QkvBias).
        bool folded = QkvBias.Applies(qkv, proj, x);
        var parts = (folded ? functional.linear(x, qkv.weight!) : qkv.forward(x)).reshape(b, h * w, 3, _heads, -1).unbind(2);
        var (q, k, v) = (parts[0], parts[1], parts[2]);
        var biases = folded ? qkv.bias!.view(3, _heads, 1, -1) : null; // per head, broadcast over [B, heads, N, d]
        if (_qStride > 0)
        {
            // max(a + c) = max(a) + c: the queries' bias can follow the pooling.
            q = MaxPoolChannelsLast(q.reshape(b, h, w, -1), _qStride);
            (h, w) = (q.shape[1], q.shape[2]);
            q = q.reshape(b, h * w, _heads, -1);
        }
        // softmax(q kᵀ/√d) v per head (Vaswani et al. 2017, eq. 1): libtorch's fused kernel, as the official
        // F.scaled_dot_product_attention, for the global blocks; over windows of a few hundred keys or fewer its fixed cost
        // per (window, head) block dominates, and two batched products around a softmax are faster. Issue 28, session 5,
        // Hiera-T at 1024², 2 threads, fused against products: 8² windows 51.7 / 16.3 ms, 4² 36.0 / 5.0, 14² 12.2 / 9.0,
        // 7² 4.8 / 1.0; global 64² 92 / 147, 32² 11.3 / 12.6 (bench AttnProbe, not kept).
        torch.Tensor o;
        if (k.shape[1] <= SmallKeyCount)
        {
            using var scale = (1.0 / Math.Sqrt(q.shape[3])).ToScalar(); // held for the call: a temporary Scalar may be finalized by the GC mid-call
            // (q + b_q)/√d in one pass: b_q/√d + q·(1/√d).
            var qs = biases is null ? q.transpose(1, 2).mul(scale) : torch.add(biases[0].mul(scale), q.transpose(1, 2), scale);
            var logits = torch.matmul(qs, k.permute(0, 2, 3, 1));
            o = torch.matmul(logits.softmax(-1), v.transpose(1, 2));
        }
        else
        {
            var qt = biases is null ? q.transpose(1, 2) : q.transpose(1, 2) + biases[0];
            o = functional.scaled_dot_product_attention(qt, k.transpose(1, 2), v.transpose(1, 2));
        }
        var merged = o.transpose(1, 2).reshape(b, h, w, -1);
        return (biases is null ? proj.forward(merged) : QkvBias.Project(proj, merged, biases[2].reshape(-1))).MoveToOuterDisposeScope();
    }

    // Up to this many keys per window the attention runs as products around a softmax rather than the fused kernel.
    private const long SmallKeyCount = 512;

    /// <summary>Max-pooling of a channels-last grid [B, H, W, C] by <paramref name="stride"/> (kernel = stride, floor), the official <c>do_pool</c>.</summary>
    internal static torch.Tensor MaxPoolChannelsLast(torch.Tensor x, int stride)
    {
        using var channelsFirst = x.permute(0, 3, 1, 2);
        using var pooled = functional.max_pool2d(channelsFirst, stride, stride);
        return pooled.permute(0, 2, 3, 1);
    }
}
