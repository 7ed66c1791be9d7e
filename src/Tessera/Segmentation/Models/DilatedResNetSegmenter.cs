using Tessera.Layers;
using Tessera.Segmentation.Backbones;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Models;

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
