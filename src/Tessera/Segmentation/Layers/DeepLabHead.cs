using Tessera.Layers;
using Tessera.Training.Distributed;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Layers;

/// <summary>
/// torchvision's DeepLabHead under its key names (<c>0</c> ASPP, <c>1</c>–<c>3</c> a 3×3 convolution with BN and ReLU,
/// <c>4</c> the 1×1 classifier); in evaluation mode without gradients the BN is folded into its convolution.
/// </summary>
public sealed class DeepLabHead : FoldedModule
{
    private readonly Aspp _aspp;
    private readonly Conv2d _conv, _classifier;
    private readonly Module<torch.Tensor, torch.Tensor> _bn;
    private readonly FoldedConvBatchNorm _fold;

    /// <summary>Creates the head: ASPP from <paramref name="inChannels"/> to <paramref name="width"/> channels, then the classifier.</summary>
    public DeepLabHead(int inChannels, int width, int classes, int outputStride = 16, int[]? rates = null) : base(nameof(DeepLabHead))
    {
        _aspp = new Aspp(inChannels, width, outputStride, rates);
        _conv = Conv2d(width, width, 3, padding: 1, bias: false);
        _bn = BatchNorms.Create(width);
        _classifier = Conv2d(width, classes, 1);
        _fold = new FoldedConvBatchNorm(_conv, _bn);
        register_module("0", _aspp);
        register_module("1", _conv);
        register_module("2", _bn);
        register_module("3", ReLU());
        register_module("4", _classifier);
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var a = _aspp.forward(x);
        // The inactive fold's Forward runs the two modules and drops its cache.
        var y = _fold.Active ? _fold.Forward(a).relu_() : functional.relu(_fold.Forward(a));
        return _classifier.forward(y).MoveToOuterDisposeScope();
    }

    private protected override IEnumerable<FoldedConvBatchNorm> Folds => [_fold];
}
