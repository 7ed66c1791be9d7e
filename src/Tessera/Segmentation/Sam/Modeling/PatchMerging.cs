using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Sam.Modeling;

/// <summary>
/// TinyViT's patch merging between stages: 1×1 convolution to the next width, 3×3 depthwise convolution with
/// stride 2 (1 into the widths 320, 448, 576, as the official code has it), 1×1 convolution, GELU after the
/// first two. Takes a map [B, C, H, W] or tokens [B, H·W, C] and returns tokens [B, H'·W', C'].
/// </summary>
public sealed class PatchMerging : Module<torch.Tensor, torch.Tensor>
{
    private readonly ConvBn conv1, conv2, conv3;
    private readonly int _side;

    /// <summary>Creates the merging of a <paramref name="side"/> × <paramref name="side"/> grid of <paramref name="dim"/> channels into <paramref name="outDim"/>.</summary>
    public PatchMerging(int side, int dim, int outDim, int stride) : base(nameof(PatchMerging))
    {
        _side = side;
        conv1 = new ConvBn(dim, outDim);
        conv2 = new ConvBn(outDim, outDim, 3, stride, 1, groups: outDim);
        conv3 = new ConvBn(outDim, outDim);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        if (x.dim() == 3) x = x.view(x.shape[0], _side, _side, -1).permute(0, 3, 1, 2);
        var h = conv1.ForwardGelu(x);
        h = MbConv.Gelu(conv2.forward(h));
        h = conv3.forward(h);
        return h.flatten(2).transpose(1, 2).MoveToOuterDisposeScope();
    }
}
