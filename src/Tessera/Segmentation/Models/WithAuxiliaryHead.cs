using Tessera.Segmentation.Backbones;
using Tessera.Segmentation.Layers;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Models;

/// <summary>
/// mmsegmentation's auxiliary head: an FCN head on the backbone's layer3 whose cross-entropy is added to the main
/// loss with weight 0.4 during training (deeper supervision, as in PSPNet, Zhao et al. 2017 §3.3); inference uses the
/// main head only. The FCN head is torchvision's (3×3 convolution to a quarter of the channels, BN, ReLU, dropout 0.1,
/// 1×1 classifier), which on ResNet-50's 1024 layer3 channels is mmsegmentation's 256-channel FCNHead.
/// </summary>
public sealed class WithAuxiliaryHead : Module<torch.Tensor, torch.Tensor>, IResNetSegmenter
{
    /// <summary>mmsegmentation's loss weight of the auxiliary head.</summary>
    public const double LossWeight = 0.4;

    private readonly Module<torch.Tensor, torch.Tensor> net;
    private readonly FcnHead auxiliary_head;

    /// <summary>Wraps <paramref name="main"/> (a network implementing <see cref="IResNetSegmenter"/>).</summary>
    public WithAuxiliaryHead(Module<torch.Tensor, torch.Tensor> main, int classes) : base(nameof(WithAuxiliaryHead))
    {
        if (main is not IResNetSegmenter s) throw new ArgumentException($"{main.GetType().Name} has no ResNet stage 3 to supervise", nameof(main));
        net = main;
        auxiliary_head = new FcnHead(s.Backbone.StageChannels[2], classes);
        RegisterComponents();
    }

    /// <inheritdoc />
    public ResNet Backbone => ((IResNetSegmenter)net).Backbone;

    /// <summary>The main logits (inference).</summary>
    public override torch.Tensor forward(torch.Tensor x) => net.forward(x);

    /// <inheritdoc />
    public (torch.Tensor Logits, torch.Tensor Layer3) ForwardWithLayer3(torch.Tensor x) => ((IResNetSegmenter)net).ForwardWithLayer3(x);

    /// <summary>Main and auxiliary logits, both at the input's size (bilinear, align_corners false).</summary>
    public (torch.Tensor Main, torch.Tensor Auxiliary) ForwardBoth(torch.Tensor x)
    {
        var (logits, layer3) = ForwardWithLayer3(x);
        var aux = functional.interpolate(auxiliary_head.forward(layer3), [x.shape[2], x.shape[3]], mode: torch.InterpolationMode.Bilinear, align_corners: false);
        return (logits, aux);
    }
}
