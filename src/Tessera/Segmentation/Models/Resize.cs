using static TorchSharp.torch.nn;

namespace Tessera.Segmentation.Models;

/// <summary>
/// Bilinear resizing of score maps; bfloat16/float16 maps are interpolated in float32, and stay float32 where they are
/// the last logits (<see cref="To"/>) or are rounded back to the map's type where more layers follow (<see cref="Within"/>).
/// </summary>
internal static class Resize
{
    public static torch.Tensor To(torch.Tensor x, long h, long w)
    {
        if (x.dtype is not (torch.ScalarType.BFloat16 or torch.ScalarType.Float16))
            return functional.interpolate(x, [h, w], mode: torch.InterpolationMode.Bilinear, align_corners: false);
        using var f = x.to(torch.ScalarType.Float32);
        return functional.interpolate(f, [h, w], mode: torch.InterpolationMode.Bilinear, align_corners: false);
    }

    public static torch.Tensor Within(torch.Tensor x, long h, long w)
    {
        if (x.dtype is not (torch.ScalarType.BFloat16 or torch.ScalarType.Float16)) return To(x, h, w);
        using var f = To(x, h, w);
        return f.to(x.dtype);
    }
}
