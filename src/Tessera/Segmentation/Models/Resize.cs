using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Models;

/// <summary>Bilinear resizing of score maps.</summary>
internal static class Resize
{
    public static torch.Tensor To(torch.Tensor x, long h, long w) =>
        functional.interpolate(x, [h, w], mode: torch.InterpolationMode.Bilinear, align_corners: false);
}
