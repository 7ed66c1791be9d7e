using Tessera.Layers;
using Tessera.Training.Distributed;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Layers;

/// <summary>
/// Atrous Spatial Pyramid Pooling (Chen et al. 2017, DeepLabv3 §3.3): a 1×1 branch, three 3×3 atrous
/// branches (rates 6, 12, 18 at output stride 16, doubled at 8), image-level pooling, each with BN and ReLU,
/// concatenated and projected by a 1×1 convolution with BN, ReLU and dropout 0.5 (torchvision's layout).
/// In evaluation mode without gradients the BatchNorms are folded into their convolutions
/// (<see cref="FoldedConvBatchNorm"/>) and the pooled branch, bilinearly upsampled from 1 × 1 (a constant map), is expanded.
/// </summary>
public sealed class Aspp : FoldedModule
{
    private readonly ModuleList<Sequential> branches;
    private readonly Sequential pooling;
    private readonly Sequential project;
    private readonly FoldedConvBatchNorm[] _branchFolds;
    private readonly FoldedConvBatchNorm _poolFold, _projectFold;

    /// <summary>The atrous rates used.</summary>
    public int[] Rates { get; }

    /// <summary>Creates ASPP for a backbone at <paramref name="outputStride"/> (or with explicit <paramref name="rates"/>).</summary>
    public Aspp(int inChannels, int outChannels = 256, int outputStride = 16, int[]? rates = null) : base(nameof(Aspp))
    {
        Rates = rates ?? (outputStride == 8 ? [12, 24, 36] : [6, 12, 18]);
        var folds = new List<FoldedConvBatchNorm>();
        Sequential ConvBnRelu(Conv2d conv)
        {
            var bn = BatchNorms.Create(outChannels);
            folds.Add(new FoldedConvBatchNorm(conv, bn));
            return Sequential(conv, bn, ReLU());
        }
        var list = new List<Sequential> { ConvBnRelu(Conv2d(inChannels, outChannels, 1, bias: false)) };
        foreach (int r in Rates)
            list.Add(ConvBnRelu(Conv2d(inChannels, outChannels, 3, padding: r, dilation: r, bias: false)));
        branches = new ModuleList<Sequential>(list.ToArray());
        _branchFolds = folds.ToArray();
        var poolConv = Conv2d(inChannels, outChannels, 1, bias: false);
        var poolBn = BatchNorms.Create(outChannels);
        pooling = Sequential(AdaptiveAvgPool2d(1), poolConv, poolBn, ReLU());
        _poolFold = new FoldedConvBatchNorm(poolConv, poolBn);
        var projectConv = Conv2d((Rates.Length + 2) * outChannels, outChannels, 1, bias: false);
        var projectBn = BatchNorms.Create(outChannels);
        project = Sequential(projectConv, projectBn, ReLU(), Dropout(0.5));
        _projectFold = new FoldedConvBatchNorm(projectConv, projectBn);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        long h = x.shape[2], w = x.shape[3];
        if (_projectFold.Active && _poolFold.Active)
        {
            var folded = _branchFolds.Select(f => f.Forward(x).relu_()).ToList();
            // Bilinear upsampling of a 1 × 1 map (align_corners false) is the constant map.
            folded.Add(_poolFold.Forward(functional.adaptive_avg_pool2d(x, 1)).relu_().expand(-1, -1, h, w));
            return _projectFold.Forward(torch.cat(folded, 1)).relu_().MoveToOuterDisposeScope();
        }
        ClearInferenceCache();   // a pass with gradients may precede a weight update
        var outs = branches.Select(b => b.forward(x)).ToList();
        outs.Add(functional.interpolate(pooling.forward(x), [h, w], mode: torch.InterpolationMode.Bilinear, align_corners: false));
        return project.forward(torch.cat(outs, 1)).MoveToOuterDisposeScope();
    }

    private protected override IEnumerable<FoldedConvBatchNorm> Folds => [.. _branchFolds, _poolFold, _projectFold];
}
