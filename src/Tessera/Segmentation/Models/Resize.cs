using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Models;

/// <summary>Bilinear resizing of score maps; bfloat16/float16 maps (issue 28) are taken to float32 first, so the last logits are float32.</summary>
internal static class Resize
{
    public static torch.Tensor To(torch.Tensor x, long h, long w)
    {
        if (x.dtype is not (torch.ScalarType.BFloat16 or torch.ScalarType.Float16))
            return functional.interpolate(x, [h, w], mode: torch.InterpolationMode.Bilinear, align_corners: false);
        using var f = x.to(torch.ScalarType.Float32);
        return functional.interpolate(f, [h, w], mode: torch.InterpolationMode.Bilinear, align_corners: false);
    }
}
