using Tessera.Layers;
using Tessera.Segmentation.Layers;
using Tessera.Training.Distributed;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Backbones;

/// <summary>ResNet depth.</summary>
public enum ResNetDepth
{
    /// <summary>ResNet-18 (basic blocks 2-2-2-2).</summary>
    ResNet18,
    /// <summary>ResNet-34 (basic blocks 3-4-6-3).</summary>
    ResNet34,
    /// <summary>ResNet-50 (bottlenecks 3-4-6-3).</summary>
    ResNet50,
    /// <summary>ResNet-101 (bottlenecks 3-4-23-3).</summary>
    ResNet101,
}

/// <summary>The feature maps of a ResNet: stem (after max-pool) and the four stages; the owner disposes them (or a dispose scope does).</summary>
/// <param name="Stem">conv1-bn1-relu-maxpool output.</param>
/// <param name="Layer1">Stage 1 (stride 4).</param>
/// <param name="Layer2">Stage 2 (stride 8).</param>
/// <param name="Layer3">Stage 3 (stride 16, or 8 when dilated).</param>
/// <param name="Layer4">Stage 4 (stride 32, or 16 or 8 when dilated).</param>
public sealed record ResNetFeatures(torch.Tensor Stem, torch.Tensor Layer1, torch.Tensor Layer2, torch.Tensor Layer3, torch.Tensor Layer4) : IDisposable
{
    /// <summary>Disposes the five feature maps.</summary>
    public void Dispose()
    {
        Stem.Dispose();
        Layer1.Dispose();
        Layer2.Dispose();
        Layer3.Dispose();
        Layer4.Dispose();
    }
}

/// <summary>
/// ResNet (He et al. 2016) with torchvision's module names, so torchvision state dicts load as they are,
/// and DeepLab's output-stride control (Chen et al. 2017): at output stride 16 the last stage, at 8 the
/// last two, replace their stride by dilation (torchvision's replace_stride_with_dilation: the first block of
/// a dilated stage keeps the previous dilation, the later blocks use the new one).
/// </summary>
public sealed class ResNet : FoldedModule
{
    private readonly Conv2d conv1;
    private readonly Module<torch.Tensor, torch.Tensor> bn1;
    private readonly MaxPool2d maxpool;
    private readonly Sequential layer1, layer2, layer3, layer4;
    private readonly Linear? fc;
    private readonly bool _smallStem;
    private readonly FoldedConvBatchNorm _stem;

    /// <summary>Channels of each stage's output.</summary>
    public int[] StageChannels { get; }

    /// <summary>Output stride of layer4.</summary>
    public int OutputStride { get; }

    /// <summary>
    /// Builds the network; <paramref name="numClasses"/> 0 leaves out the classifier. <paramref name="baseWidth"/>
    /// below 64 and <paramref name="smallStem"/> (a 3×3 stride-2 stem without max-pool: stages at strides 2, 4, 8, 16) give the small variant
    /// for 64×64 inputs trained from scratch; the defaults are torchvision's.
    /// <paramref name="layer4Dilations"/> overrides the rates of the last stage's 3 × 3 convolutions one by one
    /// (DeepLabv3's multi-grid, Wang et al.'s hybrid dilated convolution): one rate per 3 × 3 convolution in
    /// order (two per basic block, one per bottleneck), for a dilated last stage (output stride 16 or 8).
    /// </summary>
    public ResNet(ResNetDepth depth, int outputStride = 32, int numClasses = 1000, int baseWidth = 64, bool smallStem = false, int[]? layer4Dilations = null) : base("ResNet")
    {
        if (outputStride is not (8 or 16 or 32)) throw new TesseraUserException(nameof(outputStride), $"output stride must be 8, 16 or 32, got {outputStride}");
        if (layer4Dilations is not null)
        {
            int convs = Layer4Convolutions(depth);
            if (outputStride == 32) throw new TesseraUserException(nameof(layer4Dilations), "per-convolution dilations need a dilated last stage (output stride 16 or 8)");
            if (layer4Dilations.Length != convs || layer4Dilations.Any(r => r < 1))
                throw new TesseraUserException(nameof(layer4Dilations), $"expected {convs} positive rates for the last stage's 3×3 convolutions, got [{string.Join(", ", layer4Dilations)}]");
        }
        OutputStride = outputStride;
        bool bottleneck = depth is ResNetDepth.ResNet50 or ResNetDepth.ResNet101;
        int[] blocks = depth switch { ResNetDepth.ResNet18 => [2, 2, 2, 2], ResNetDepth.ResNet101 => [3, 4, 23, 3], _ => [3, 4, 6, 3] };
        int expansion = bottleneck ? 4 : 1;
        bool[] dilate = [false, outputStride == 8, outputStride <= 16];

        int w = baseWidth;
        conv1 = smallStem ? Conv2d(3, w, 3, stride: 2, padding: 1, bias: false) : Conv2d(3, w, 7, stride: 2, padding: 3, bias: false);
        bn1 = BatchNorms.Create(w);
        maxpool = smallStem ? MaxPool2d(1, stride: 1) : MaxPool2d(3, stride: 2, padding: 1);
        (_smallStem, _stem) = (smallStem, new FoldedConvBatchNorm(conv1, bn1));
        int inplanes = w, dilation = 1;
        Sequential Stage(int planes, int count, int stride, bool dilateStage, int[]? rates = null)
        {
            int previous = dilation;
            if (dilateStage) { dilation *= stride; stride = 1; }
            var list = new List<Module<torch.Tensor, torch.Tensor>>();
            Sequential? down = null;
            if (stride != 1 || inplanes != planes * expansion)
                down = Sequential(Conv2d(inplanes, planes * expansion, 1, stride: stride, bias: false), BatchNorms.Create(planes * expansion));
            // Rate of the j-th 3 × 3 convolution of block i: the override, or torchvision's rule.
            int Rate(int i, int j, int standard) => rates is null ? standard : rates[bottleneck ? i : 2 * i + j];
            list.Add(bottleneck ? new Bottleneck(inplanes, planes, stride, Rate(0, 0, previous), down) : new BasicBlock(inplanes, planes, stride, Rate(0, 0, previous), down, Rate(0, 1, previous)));
            inplanes = planes * expansion;
            for (int i = 1; i < count; i++)
                list.Add(bottleneck ? new Bottleneck(inplanes, planes, 1, Rate(i, 0, dilation), null) : new BasicBlock(inplanes, planes, 1, Rate(i, 0, dilation), null, Rate(i, 1, dilation)));
            return Sequential(list.Select((m, i) => (i.ToString(System.Globalization.CultureInfo.InvariantCulture), m)).ToArray());
        }
        layer1 = Stage(w, blocks[0], 1, false);
        layer2 = Stage(2 * w, blocks[1], 2, dilate[0]);
        layer3 = Stage(4 * w, blocks[2], 2, dilate[1]);
        layer4 = Stage(8 * w, blocks[3], 2, dilate[2], layer4Dilations);
        StageChannels = [w * expansion, 2 * w * expansion, 4 * w * expansion, 8 * w * expansion];
        if (numClasses > 0) fc = Linear(8 * w * expansion, numClasses);
        RegisterComponents();
        foreach (var (_, m) in named_modules())
            if (m is Conv2d c) init.kaiming_normal_(c.weight!, mode: init.FanInOut.FanOut, nonlinearity: init.NonlinearityType.ReLU);
    }

    /// <summary>Number of 3 × 3 convolutions in the last stage (the length of a per-convolution rate list).</summary>
    public static int Layer4Convolutions(ResNetDepth depth) => depth switch { ResNetDepth.ResNet18 => 4, ResNetDepth.ResNet34 => 6, _ => 3 };

    /// <summary>
    /// Loads torchvision ImageNet weights (<c>resnet50-0676ba61.pth</c> and the like, or a safetensors copy) by their
    /// own key names; the classifier's <c>fc.*</c> may be present when this network has none.
    /// </summary>
    /// <exception cref="TesseraFormatException">The file is unreadable or does not fit this depth and width.</exception>
    public void LoadTorchvision(string path) => IO.Checkpoint.LoadAny(this, path, allowExtra: fc is null);

    /// <summary>
    /// All stage outputs. In evaluation mode without gradients every convolution runs with its BatchNorm folded in
    /// (<see cref="FoldedConvBatchNorm"/>) and the activations are updated in place.
    /// </summary>
    public ResNetFeatures Features(torch.Tensor x)
    {
        // The inactive fold's Forward drops its cache (a pass with gradients may precede a weight update).
        var stem = _stem.Active ? _stem.Forward(x).relu_() : functional.relu(_stem.Forward(x));
        // The small stem's 1 × 1 max-pool of stride 1 is the identity.
        if (!_smallStem) stem = maxpool.forward(stem);
        var l1 = layer1.forward(stem);
        var l2 = layer2.forward(l1);
        var l3 = layer3.forward(l2);
        var l4 = layer4.forward(l3);
        return new ResNetFeatures(stem, l1, l2, l3, l4);
    }

    /// <summary>Class logits after global average pooling (requires the classifier).</summary>
    public override torch.Tensor forward(torch.Tensor x)
    {
        if (fc is null) throw new InvalidOperationException("this ResNet was built without a classifier (numClasses 0)");
        using var scope = torch.NewDisposeScope();
        var f = Features(x);
        return fc.forward(f.Layer4.mean([2, 3])).MoveToOuterDisposeScope();
    }

    private protected override IEnumerable<FoldedConvBatchNorm> Folds => [_stem];
}

/// <summary>
/// A residual block whose convolution + BatchNorm pairs run folded in inference (<see cref="FoldedConvBatchNorm"/>):
/// the folds, and the cache rules every such block shares (dropped by <c>train</c>/<c>eval</c>, by a pass with
/// gradients, and on disposal).
/// </summary>
internal abstract class FoldedResidualBlock(string name) : FoldedModule(name)
{
    /// <summary>The block's conv + BatchNorm pairs in order; set after the modules are registered.</summary>
    protected FoldedConvBatchNorm[] _folds = [];

    /// <summary>The downsample branch's pair, if the block has one.</summary>
    protected FoldedConvBatchNorm? _down;

    /// <summary>The folded form of a downsample branch (a 1 × 1 convolution and BatchNorm).</summary>
    protected static FoldedConvBatchNorm? DownsampleFold(Sequential? down) =>
        down is null ? null : new FoldedConvBatchNorm((Conv2d)down.children().ElementAt(0), (Module<torch.Tensor, torch.Tensor>)down.children().ElementAt(1));

    private protected override IEnumerable<FoldedConvBatchNorm> Folds => _down is null ? _folds : [.. _folds, _down];
}

/// <summary>torchvision's BasicBlock (two 3×3 convolutions); here it may be dilated too, as DeepLab-style ResNet-18/34 need.</summary>
internal sealed class BasicBlock : FoldedResidualBlock
{
    private readonly Conv2d conv1, conv2;
    private readonly Module<torch.Tensor, torch.Tensor> bn1, bn2;
    private readonly Sequential? downsample;

    public BasicBlock(int inplanes, int planes, int stride, int dilation, Sequential? down, int dilation2 = 0) : base("BasicBlock")
    {
        if (dilation2 == 0) dilation2 = dilation;
        conv1 = Conv2d(inplanes, planes, 3, stride: stride, padding: dilation, dilation: dilation, bias: false);
        bn1 = BatchNorms.Create(planes);
        conv2 = Conv2d(planes, planes, 3, padding: dilation2, dilation: dilation2, bias: false);
        bn2 = BatchNorms.Create(planes);
        downsample = down;
        RegisterComponents();
        _folds = [new FoldedConvBatchNorm(conv1, bn1), new FoldedConvBatchNorm(conv2, bn2)];
        _down = DownsampleFold(down);
    }

    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        if (_folds[0].Active)
        {
            var z = _folds[1].Forward(_folds[0].Forward(x).relu_());
            return z.add_(_down is null ? x : _down.Forward(x)).relu_().MoveToOuterDisposeScope();
        }
        ClearInferenceCache();   // a pass with gradients may precede a weight update
        var y = functional.relu(bn1.forward(PointwiseConvolution.Forward(conv1, x)));
        y = bn2.forward(PointwiseConvolution.Forward(conv2, y));
        var identity = _down is null ? x : _down.Forward(x);   // unfolded here: not Active
        return functional.relu(y + identity).MoveToOuterDisposeScope();
    }
}

/// <summary>torchvision's Bottleneck (1×1, 3×3 with stride and dilation, 1×1 ×4), ResNet v1.5.</summary>
internal sealed class Bottleneck : FoldedResidualBlock
{
    private readonly Conv2d conv1, conv2, conv3;
    private readonly Module<torch.Tensor, torch.Tensor> bn1, bn2, bn3;
    private readonly Sequential? downsample;

    public Bottleneck(int inplanes, int planes, int stride, int dilation, Sequential? down) : base("Bottleneck")
    {
        conv1 = Conv2d(inplanes, planes, 1, bias: false);
        bn1 = BatchNorms.Create(planes);
        conv2 = Conv2d(planes, planes, 3, stride: stride, padding: dilation, dilation: dilation, bias: false);
        bn2 = BatchNorms.Create(planes);
        conv3 = Conv2d(planes, planes * 4, 1, bias: false);
        bn3 = BatchNorms.Create(planes * 4);
        downsample = down;
        RegisterComponents();
        _folds = [new FoldedConvBatchNorm(conv1, bn1), new FoldedConvBatchNorm(conv2, bn2), new FoldedConvBatchNorm(conv3, bn3)];
        _down = DownsampleFold(down);
    }

    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        if (_folds[0].Active)
        {
            var z = _folds[2].Forward(_folds[1].Forward(_folds[0].Forward(x).relu_()).relu_());
            return z.add_(_down is null ? x : _down.Forward(x)).relu_().MoveToOuterDisposeScope();
        }
        ClearInferenceCache();   // a pass with gradients may precede a weight update
        var y = functional.relu(bn1.forward(PointwiseConvolution.Forward(conv1, x)));
        y = functional.relu(bn2.forward(PointwiseConvolution.Forward(conv2, y)));
        y = bn3.forward(PointwiseConvolution.Forward(conv3, y));
        var identity = _down is null ? x : _down.Forward(x);   // unfolded here: not Active
        return functional.relu(y + identity).MoveToOuterDisposeScope();
    }
}
