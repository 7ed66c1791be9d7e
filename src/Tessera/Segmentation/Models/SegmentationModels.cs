using Tessera.Layers;
using Tessera.Segmentation.Backbones;
using Tessera.Segmentation.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Models;

/// <summary>Bilinear resizing of score maps.</summary>
internal static class Resize
{
    public static torch.Tensor To(torch.Tensor x, long h, long w) =>
        functional.interpolate(x, [h, w], mode: torch.InterpolationMode.Bilinear, align_corners: false);
}

/// <summary>
/// A dilated ResNet, a head on its last stage, and bilinear upsampling of the logits to the input's size: the
/// shape DeepLabV3 and FCN share (torchvision's <c>_SimpleSegmentationModel</c>), with its key names
/// <c>backbone.*</c> and <c>head.*</c>.
/// </summary>
public abstract class DilatedResNetSegmenter : Module<torch.Tensor, torch.Tensor>, IResNetSegmenter
{
    private readonly ResNet _backbone;
    private readonly Module<torch.Tensor, torch.Tensor> _head;

    /// <summary>Registers the backbone and the head.</summary>
    protected DilatedResNetSegmenter(string name, ResNet backbone, Module<torch.Tensor, torch.Tensor> head) : base(name)
    {
        (_backbone, _head) = (backbone, head);
        register_module("backbone", backbone);
        register_module("head", head);
    }

    /// <summary>The backbone (for loading torchvision weights into it).</summary>
    public ResNet Backbone => _backbone;

    /// <summary>
    /// Logits at the input's size. Inference (evaluation mode, gradients off) runs the network channels-last (NHWC
    /// strides, which oneDNN's convolutions take without reordering the activations, 1.3× less CPU time on segspeed's
    /// DeepLabV3) with BatchNorm folded into the convolutions; the logits come back in the usual contiguous layout.
    /// </summary>
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        if (!training && !torch.is_grad_enabled() && x.dim() == 4)
        {
            var features = _backbone.Features(MemoryFormat.ChannelsLast(x));
            return Resize.To(_head.forward(features.Layer4).contiguous(), x.shape[2], x.shape[3]).MoveToOuterDisposeScope();
        }
        return ForwardWithLayer3(x).Logits.MoveToOuterDisposeScope();
    }


    /// <inheritdoc />
    public (torch.Tensor Logits, torch.Tensor Layer3) ForwardWithLayer3(torch.Tensor x)
    {
        var f = _backbone.Features(x);
        return (Resize.To(_head.forward(f.Layer4), x.shape[2], x.shape[3]), f.Layer3);
    }
}

/// <summary>
/// DeepLabV3 (Chen et al. 2017): a dilated ResNet (output stride 16 or 8), ASPP, a 3×3 convolution with BN and
/// ReLU, a 1×1 classifier, and bilinear upsampling to the input size (torchvision's DeepLabHead). With
/// <c>useAspp</c> false the head is an FCN head on the same backbone (the ablation without ASPP).
/// </summary>
public sealed class DeepLabV3 : DilatedResNetSegmenter
{
    /// <summary>Creates the model.</summary>
    public DeepLabV3(int classes, ResNetDepth depth = ResNetDepth.ResNet50, int outputStride = 16, bool useAspp = true, int[]? rates = null, int baseWidth = 64, bool smallStem = false, int[]? layer4Dilations = null)
        : this(new ResNet(depth, outputStride, numClasses: 0, baseWidth, smallStem, layer4Dilations), classes, outputStride, useAspp, rates)
    {
    }

    private DeepLabV3(ResNet backbone, int classes, int outputStride, bool useAspp, int[]? rates)
        : base(nameof(DeepLabV3), backbone, Head(backbone.StageChannels[3], classes, outputStride, useAspp, rates))
    {
    }

    private static Module<torch.Tensor, torch.Tensor> Head(int c, int classes, int outputStride, bool useAspp, int[]? rates)
    {
        int width = Math.Min(256, Math.Max(32, c / 2));
        return useAspp ? new DeepLabHead(c, width, classes, outputStride, rates) : Sequential(new FcnHead(c, classes));
    }
}

/// <summary>FCN baseline (Long et al. 2015, torchvision's FCN): backbone, FCN head, bilinear upsampling.</summary>
public sealed class Fcn : DilatedResNetSegmenter
{
    /// <summary>Creates the model.</summary>
    public Fcn(int classes, ResNetDepth depth = ResNetDepth.ResNet50, int outputStride = 8, int baseWidth = 64, bool smallStem = false, int[]? layer4Dilations = null)
        : this(new ResNet(depth, outputStride, numClasses: 0, baseWidth, smallStem, layer4Dilations), classes)
    {
    }

    private Fcn(ResNet backbone, int classes) : base(nameof(Fcn), backbone, new FcnHead(backbone.StageChannels[3], classes))
    {
    }
}

/// <summary>What sits where GCN-Net's GCN modules are (the paper's Table 1–2 ablations).</summary>
public enum GcnVariant
{
    /// <summary>The GCN module (k×1 + 1×k separable branches).</summary>
    Gcn,
    /// <summary>A trivial k × k convolution (Table 1, "conv").</summary>
    FullKernel,
    /// <summary>Stacked 3 × 3 convolutions of about the GCN's parameter count ((k − 1)/2 layers; Table 2).</summary>
    Stacked3x3,
}

/// <summary>
/// GCN-Net (Peng et al. 2017, Fig. 2A): a GCN module and a BR block on each of the four ResNet stages; the
/// coarsest score map is upsampled ×2, added to the next finer one and refined by BR, down to stride 4;
/// then two more ×2 upsamplings, each followed by BR — 4 GCN and 9 BR blocks in all. <c>boundaryRefinement</c>
/// false replaces every BR by identity (the paper's ablation, Table 5). The score maps carry the classes rounded
/// up to a multiple of 16 channels and the output keeps the first <c>classes</c>: libtorch 2.10's oneDNN returns
/// NaN gradients for 3×3 convolutions on 8- or 11-channel maps on AVX-512 CPUs (see Runtime.OneDnn).
/// </summary>
public sealed class GcnNet : Module<torch.Tensor, torch.Tensor>, IResNetSegmenter
{
    private readonly ResNet backbone;
    private readonly ModuleList<Module<torch.Tensor, torch.Tensor>> gcn;
    private readonly ModuleList<Module<torch.Tensor, torch.Tensor>> br;
    private readonly int _classes;

    /// <summary>Number of GCN modules (4; or their ablation replacements).</summary>
    public int GcnCount => gcn.Count;

    /// <summary>Number of BR blocks (9, or 0 without BR).</summary>
    public int BrCount => br.Count(m => m is BoundaryRefinement);

    /// <summary>Creates the model with GCN kernel size <paramref name="k"/>.</summary>
    public GcnNet(int classes, int k = 15, bool boundaryRefinement = true, ResNetDepth depth = ResNetDepth.ResNet50, int baseWidth = 64, bool smallStem = false, GcnVariant variant = GcnVariant.Gcn) : base(nameof(GcnNet))
    {
        if (k < 1 || k % 2 == 0) throw new ArgumentException($"GCN kernel size must be odd, got {k}", nameof(k));
        backbone = new ResNet(depth, 32, numClasses: 0, baseWidth, smallStem);
        _classes = classes;
        int scores = (classes + 15) / 16 * 16;
        gcn = new ModuleList<Module<torch.Tensor, torch.Tensor>>(backbone.StageChannels.Select(c => variant switch
        {
            GcnVariant.FullKernel => (Module<torch.Tensor, torch.Tensor>)Conv2d(c, scores, k, padding: (k - 1) / 2),
            GcnVariant.Stacked3x3 => Stacked(c, scores, k),
            _ => new GcnModule(c, scores, k),
        }).ToArray());
        br = new ModuleList<Module<torch.Tensor, torch.Tensor>>(Enumerable.Range(0, 9)
            .Select(_ => boundaryRefinement ? (Module<torch.Tensor, torch.Tensor>)new BoundaryRefinement(scores) : Identity()).ToArray());
        RegisterComponents();
    }

    /// <summary>The backbone.</summary>
    public ResNet Backbone => backbone;

    /// <summary>(k − 1)/2 stacked 3×3 convolutions (same receptive field k), the first C → classes, no nonlinearity between (as GCN has none).</summary>
    private static Sequential Stacked(int inChannels, int classes, int k)
    {
        int layers = Math.Max(1, (k - 1) / 2);
        var list = new List<(string, Module<torch.Tensor, torch.Tensor>)>();
        for (int i = 0; i < layers; i++)
            list.Add((i.ToString(System.Globalization.CultureInfo.InvariantCulture), Conv2d(i == 0 ? inChannels : classes, classes, 3, padding: 1)));
        return Sequential(list.ToArray());
    }

    /// <inheritdoc />
    public override torch.Tensor forward(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        return ForwardWithLayer3(x).Logits.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public (torch.Tensor Logits, torch.Tensor Layer3) ForwardWithLayer3(torch.Tensor x)
    {
        var f = backbone.Features(x);
        torch.Tensor[] stages = [f.Layer1, f.Layer2, f.Layer3, f.Layer4];
        var scores = stages.Select((s, i) => br[i].forward(gcn[i].forward(s))).ToArray();   // BR 0–3
        var y = scores[3];
        for (int i = 2, b = 4; i >= 0; i--, b++)                                            // BR 4–6
            y = br[b].forward(Resize.To(y, scores[i].shape[2], scores[i].shape[3]) + scores[i]);
        y = br[7].forward(Resize.To(y, y.shape[2] * 2, y.shape[3] * 2));                     // BR 7
        y = br[8].forward(Resize.To(y, x.shape[2], x.shape[3]));                             // BR 8
        return (y[.., .._classes], f.Layer3);
    }
}
