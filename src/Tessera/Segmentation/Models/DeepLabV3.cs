using Tessera.Segmentation.Backbones;
using Tessera.Segmentation.Layers;
using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Models;

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
