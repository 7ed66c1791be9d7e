using Tessera.Layers;
using Tessera.Segmentation.Sam.Modeling;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam2.Modeling;

/// <summary>
/// One Hiera block (Ryali et al. 2023, §3; the official <c>hieradet.MultiScaleBlock</c>), pre-norm:
/// x ← s(x) + Attn(LN₁(x)), then x ← x + MLP(LN₂(x)) with a two-layer GELU MLP of ratio 4. The attention runs within
/// windows of side <see cref="HieraBlockSpec.Window"/> (the grid zero-padded after LN₁ to whole windows, ViTDet) or
/// globally. At a width change s(x) = MaxPool(proj(LN₁(x))) (the shortcut is projected from the normalised input and
/// pooled like the queries), otherwise s(x) = x. Keys <c>norm1</c>, <c>attn</c>, <c>norm2</c>, <c>mlp.layers.{0,1}</c>,
/// <c>proj</c> (width changes only).
/// </summary>
public sealed class MultiScaleBlock : Module<torch.Tensor, torch.Tensor>
{
    private readonly LayerNorm norm1, norm2;
    private readonly MultiScaleAttention attn;
    private readonly SamMlp mlp;
    private readonly Linear? proj;
    private readonly int _window, _qStride;

    /// <summary>The block's sizes.</summary>
    public HieraBlockSpec Spec { get; }

    /// <summary>Creates the block for <paramref name="spec"/>, pooling by <paramref name="qStride"/> where the spec says so.</summary>
    public MultiScaleBlock(HieraBlockSpec spec, int qStride = 2, double mlpRatio = 4.0) : base(nameof(MultiScaleBlock))
    {
        Spec = spec;
        _window = spec.Window;
        _qStride = spec.PoolsQueries ? qStride : 0;
        norm1 = LayerNorm(spec.Dim, eps: 1e-6);
        attn = new MultiScaleAttention(spec.Dim, spec.DimOut, spec.Heads, _qStride);
        norm2 = LayerNorm(spec.DimOut, eps: 1e-6);
        mlp = new SamMlp(spec.DimOut, (int)(spec.DimOut * mlpRatio), spec.DimOut, 2, MlpActivation.Gelu);
        if (spec.Dim != spec.DimOut) proj = Linear(spec.Dim, spec.DimOut);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var shortcut = x;
        x = norm1.forward(x);
        if (proj is not null)
        {
            shortcut = proj.forward(x);
            if (_qStride > 0) shortcut = MultiScaleAttention.MaxPoolChannelsLast(shortcut, _qStride);
        }
        if (_window > 0)
        {
            var (windows, _) = Windows.Partition(x, _window);
            x = attn.forward(windows);
            // Pooled queries shrink each window; the grid to reassemble is the shortcut's, padded to the new window.
            int window = _qStride > 0 ? _window / _qStride : _window;
            long h = shortcut.shape[1], w = shortcut.shape[2];
            var padded = (h + (window - h % window) % window, w + (window - w % window) % window);
            x = Windows.Unpartition(x, window, padded, (h, w));
        }
        else
        {
            x = attn.forward(x);
        }
        // The residual sums into the fresh attention output; the MLP's last product accumulates into x + b (SamMlp.Residual).
        x = x.add_(shortcut);
        return mlp.Residual(norm2.forward(x), x).MoveToOuterDisposeScope();
    }
}
