using Tessera.Segmentation.Backbones;

namespace Tessera.Segmentation.Models;

/// <summary>A segmentation model's architecture; its name (<see cref="EnumNames"/>) is what checkpoints store.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SegModelKind>))]
public enum SegModelKind
{
    /// <summary>GCN-Net (Peng et al. 2017): global convolutional network with boundary refinement.</summary>
    [JsonStringEnumMemberName("gcn")] Gcn,
    /// <summary>DeepLabv3 (Chen et al. 2017) with ASPP.</summary>
    [JsonStringEnumMemberName("deeplabv3")] DeepLabV3,
    /// <summary>FCN (Long et al. 2015) on a dilated ResNet.</summary>
    [JsonStringEnumMemberName("fcn")] Fcn,
    /// <summary>Ablation: one k × k convolution per stage instead of GCN's separable pair.</summary>
    [JsonStringEnumMemberName("kxk")] Kxk,
    /// <summary>Ablation: stacked 3 × 3 convolutions of about the GCN's parameter count.</summary>
    [JsonStringEnumMemberName("stacked3x3")] Stacked3x3,
}
