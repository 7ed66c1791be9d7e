using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>
/// TinyViT's transformer block (Wu et al. 2022, §3.2) on tokens [B, H·W, C] of an H × W grid:
/// x ← x + WindowAttn(x) (the grid padded with zero tokens to whole windows; the attention's own LayerNorm sees
/// the padding), then x ← DWConv_BN(x) on the grid (no residual), then x ← x + MLP(LN(x)).
/// </summary>
public sealed class TinyVitBlock : Module<torch.Tensor, torch.Tensor>
{
    private readonly TinyVitAttention attn;
    private readonly TinyVitMlp mlp;
    private readonly ConvBn local_conv;
    private readonly int _side, _window;

    /// <summary>Creates the block for a <paramref name="side"/> × <paramref name="side"/> grid of <paramref name="dim"/> channels.</summary>
    public TinyVitBlock(int dim, int side, int heads, int window, double mlpRatio, int localConvSize) : base(nameof(TinyVitBlock))
    {
        _side = side;
        _window = window;
        attn = new TinyVitAttention(dim, heads, window);
        mlp = new TinyVitMlp(dim, (int)(dim * mlpRatio));
        local_conv = new ConvBn(dim, dim, localConvSize, 1, localConvSize / 2, groups: dim);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], l = x.shape[1], c = x.shape[2];
        torch.Tensor a;
        if (_side == _window)
        {
            a = attn.forward(x);
        }
        else
        {
            var (windows, padded) = Windows.Partition(x.view(b, _side, _side, c), _window);
            a = attn.forward(windows.view(-1, (long)_window * _window, c));
            a = Windows.Unpartition(a, _window, padded, (_side, _side)).view(b, l, c);
        }
        x = x + a;
        // The tokens [B, L, C] are already the grid in channels-last order: the depthwise convolution takes that view (no
        // NCHW copy either way, and oneDNN's depthwise kernels are faster on NHWC), and its NHWC output is the tokens again.
        var grid = x.view(b, _side, _side, c).permute(0, 3, 1, 2);
        x = local_conv.forward(grid).permute(0, 2, 3, 1).reshape(b, l, c);
        return mlp.Residual(x).MoveToOuterDisposeScope();
    }
}
