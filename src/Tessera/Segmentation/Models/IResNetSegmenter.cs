using Tessera.Segmentation.Backbones;

namespace Tessera.Segmentation.Models;

/// <summary>A segmentation network on a ResNet backbone that can also hand out its stage-3 features (for an auxiliary head).</summary>
public interface IResNetSegmenter
{
    /// <summary>The backbone (for loading torchvision weights into it).</summary>
    ResNet Backbone { get; }

    /// <summary>The logits at the input's size and the backbone's layer3 output, from one pass.</summary>
    (torch.Tensor Logits, torch.Tensor Layer3) ForwardWithLayer3(torch.Tensor x);
}
