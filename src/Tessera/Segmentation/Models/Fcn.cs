using Tessera.Segmentation.Backbones;
using Tessera.Segmentation.Layers;

namespace Tessera.Segmentation.Models;

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
