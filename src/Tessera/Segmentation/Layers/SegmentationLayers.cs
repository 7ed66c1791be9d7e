using Tessera.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Layers;

/// <summary>
/// Global Convolutional Network module (Peng et al. 2017, "Large Kernel Matters", Fig. 2B): two branches,
/// k×1 then 1×k, and 1×k then k×1, summed; no BatchNorm or ReLU inside, so a k × k receptive field costs
/// O(2k) instead of O(k²) parameters per channel pair.
/// </summary>
public sealed class GcnModule : Module<torch.Tensor, torch.Tensor>
{
    private readonly Conv2d left1, left2, right1, right2;

    /// <summary>Kernel size k (odd).</summary>
    public int K { get; }

    /// <summary>Creates the module mapping <paramref name="inChannels"/> to <paramref name="outChannels"/>.</summary>
    public GcnModule(int inChannels, int outChannels, int k) : base(nameof(GcnModule))
    {
        if (k < 1 || k % 2 == 0) throw new ArgumentException($"GCN kernel size must be odd, got {k}", nameof(k));
        K = k;
        int p = (k - 1) / 2;
        left1 = Conv2d(inChannels, outChannels, (k, 1), padding: (p, 0));
        left2 = Conv2d(outChannels, outChannels, (1, k), padding: (0, p));
        right1 = Conv2d(inChannels, outChannels, (1, k), padding: (0, p));
        right2 = Conv2d(outChannels, outChannels, (k, 1), padding: (p, 0));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        return (left2.forward(left1.forward(x)) + right2.forward(right1.forward(x))).MoveToOuterDisposeScope();
    }
}

/// <summary>Boundary Refinement (Peng et al. 2017, Fig. 2C): S̃ = S + conv3×3(ReLU(conv3×3(S))).</summary>
public sealed class BoundaryRefinement : Module<torch.Tensor, torch.Tensor>
{
    private readonly Conv2d conv1, conv2;

    /// <summary>Creates the block for <paramref name="channels"/> score maps.</summary>
    public BoundaryRefinement(int channels) : base(nameof(BoundaryRefinement))
    {
        conv1 = Conv2d(channels, channels, 3, padding: 1);
        conv2 = Conv2d(channels, channels, 3, padding: 1);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor s)
    {
        using var scope = torch.NewDisposeScope();
        return (s + conv2.forward(functional.relu(conv1.forward(s)))).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Atrous Spatial Pyramid Pooling (Chen et al. 2017, DeepLabv3 §3.3): a 1×1 branch, three 3×3 atrous
/// branches (rates 6, 12, 18 at output stride 16, doubled at 8), image-level pooling, each with BN and ReLU,
/// concatenated and projected by a 1×1 convolution with BN, ReLU and dropout 0.5 (torchvision's layout).
/// In evaluation mode without gradients the BatchNorms are folded into their convolutions
/// (<see cref="FoldedConvBatchNorm"/>) and the pooled branch, bilinearly upsampled from 1 × 1 (a constant map), is expanded.
/// </summary>
public sealed class Aspp : Module<torch.Tensor, torch.Tensor>, IInferenceCache
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
            var bn = BatchNorm2d(outChannels);
            folds.Add(new FoldedConvBatchNorm(conv, bn));
            return Sequential(conv, bn, ReLU());
        }
        var list = new List<Sequential> { ConvBnRelu(Conv2d(inChannels, outChannels, 1, bias: false)) };
        foreach (int r in Rates)
            list.Add(ConvBnRelu(Conv2d(inChannels, outChannels, 3, padding: r, dilation: r, bias: false)));
        branches = new ModuleList<Sequential>(list.ToArray());
        _branchFolds = folds.ToArray();
        var poolConv = Conv2d(inChannels, outChannels, 1, bias: false);
        var poolBn = BatchNorm2d(outChannels);
        pooling = Sequential(AdaptiveAvgPool2d(1), poolConv, poolBn, ReLU());
        _poolFold = new FoldedConvBatchNorm(poolConv, poolBn);
        var projectConv = Conv2d((Rates.Length + 2) * outChannels, outChannels, 1, bias: false);
        var projectBn = BatchNorm2d(outChannels);
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

    /// <inheritdoc />
    public override void train(bool train = true)
    {
        base.train(train);
        ClearInferenceCache();
    }

    /// <inheritdoc />
    public void ClearInferenceCache()
    {
        foreach (var f in _branchFolds) f.Clear();
        _poolFold.Clear();
        _projectFold.Clear();
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) ClearInferenceCache();
        base.Dispose(disposing);
    }
}

/// <summary>
/// torchvision's DeepLabHead under its key names (<c>0</c> ASPP, <c>1</c>–<c>3</c> a 3×3 convolution with BN and ReLU,
/// <c>4</c> the 1×1 classifier); in evaluation mode without gradients the BN is folded into its convolution.
/// </summary>
public sealed class DeepLabHead : Module<torch.Tensor, torch.Tensor>, IInferenceCache
{
    private readonly Aspp _aspp;
    private readonly Conv2d _conv, _classifier;
    private readonly BatchNorm2d _bn;
    private readonly FoldedConvBatchNorm _fold;

    /// <summary>Creates the head: ASPP from <paramref name="inChannels"/> to <paramref name="width"/> channels, then the classifier.</summary>
    public DeepLabHead(int inChannels, int width, int classes, int outputStride = 16, int[]? rates = null) : base(nameof(DeepLabHead))
    {
        _aspp = new Aspp(inChannels, width, outputStride, rates);
        _conv = Conv2d(width, width, 3, padding: 1, bias: false);
        _bn = BatchNorm2d(width);
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

    /// <inheritdoc />
    public override void train(bool train = true)
    {
        base.train(train);
        _fold.Clear();
    }

    /// <inheritdoc />
    public void ClearInferenceCache() => _fold.Clear();

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) _fold.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>torchvision's FCNHead: conv3×3 (C → C/4), BN, ReLU, dropout 0.1, conv1×1 to the classes.</summary>
public sealed class FcnHead : Module<torch.Tensor, torch.Tensor>
{
    private readonly Sequential body;

    /// <summary>Creates the head.</summary>
    public FcnHead(int inChannels, int classes) : base(nameof(FcnHead))
    {
        int mid = Math.Max(1, inChannels / 4);
        body = Sequential(Conv2d(inChannels, mid, 3, padding: 1, bias: false), BatchNorm2d(mid), ReLU(), Dropout(0.1), Conv2d(mid, classes, 1));
        RegisterComponents();
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x) => body.forward(x);
}
