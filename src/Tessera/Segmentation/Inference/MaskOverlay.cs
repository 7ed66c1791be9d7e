namespace Tessera.Segmentation.Inference;

/// <summary>
/// Colour overlays of masks and label maps on an image, for people to look at: out = (1 − w)·image + w·colour per
/// pixel, with w the overlay's opacity where a mask covers the pixel and 0 elsewhere.
/// </summary>
public static class MaskOverlay
{
    /// <summary>
    /// Blends <paramref name="masks"/> ([H, W], bool or 0/1) one after another onto <paramref name="image"/> ([3, H, W],
    /// bytes or floats in [0, 1]) with <paramref name="opacity"/>; mask i gets <paramref name="colours"/>[i], by default
    /// <see cref="Colour"/>(i). Returns [3, H, W] floats in [0, 1] on the CPU.
    /// </summary>
    public static torch.Tensor Masks(torch.Tensor image, IReadOnlyList<torch.Tensor> masks, IReadOnlyList<(byte R, byte G, byte B)>? colours = null, float opacity = 0.55f)
    {
        using var scope = torch.NewDisposeScope();
        var output = Float(image);
        for (int i = 0; i < masks.Count; i++)
        {
            var (r, g, b) = colours is null ? Colour(i) : colours[i];
            var colour = torch.tensor(new[] { r / 255f, g / 255f, b / 255f }).view(3, 1, 1);
            var m = masks[i].cpu().to(torch.ScalarType.Float32).unsqueeze(0);
            output = Blend(output, colour, opacity * m);
        }
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Blends a label map ([H, W] class indices) onto <paramref name="image"/>: class c in <paramref name="palette"/>[c]
    /// (RGB bytes), labels beyond the palette (such as 255, ignored) in white, everywhere with <paramref name="opacity"/>.
    /// Returns [3, H, W] floats in [0, 1] on the CPU.
    /// </summary>
    public static torch.Tensor Labels(torch.Tensor image, torch.Tensor labels, IReadOnlyList<byte[]> palette, float opacity = 0.5f)
    {
        using var scope = torch.NewDisposeScope();
        var table = torch.tensor(palette.SelectMany(c => c).Concat(Enumerable.Repeat((byte)255, 3 * (256 - palette.Count))).ToArray()).view(256, 3);
        var colour = table.index_select(0, labels.cpu().to(torch.ScalarType.Int64).clamp(0, 255).flatten()).view(labels.shape[0], labels.shape[1], 3).permute(2, 0, 1);
        return Blend(Float(image), colour.to(torch.ScalarType.Float32).div(255f), opacity).MoveToOuterDisposeScope();
    }

    /// <summary>Colour i of a sequence whose neighbours differ: hues stepped by the golden angle (137.5°), bright and saturated.</summary>
    public static (byte R, byte G, byte B) Colour(int i)
    {
        double h = (i * 137.508) % 360 / 60, c = 0.85, x = c * (1 - Math.Abs(h % 2 - 1));
        var (r, g, b) = h switch { < 1 => (c, x, 0.0), < 2 => (x, c, 0.0), < 3 => (0.0, c, x), < 4 => (0.0, x, c), < 5 => (x, 0.0, c), _ => (c, 0.0, x) };
        return ((byte)(int)((r + 0.1) * 255), (byte)(int)((g + 0.1) * 255), (byte)(int)((b + 0.1) * 255));
    }

    // out = (1 − w)·image + w·colour
    private static torch.Tensor Blend(torch.Tensor image, torch.Tensor colour, torch.Tensor weight) => image * (1 - weight) + colour * weight;

    private static torch.Tensor Blend(torch.Tensor image, torch.Tensor colour, float weight) => image * (1 - weight) + colour * weight;

    private static torch.Tensor Float(torch.Tensor image) =>
        image.dtype == torch.ScalarType.Byte ? image.cpu().to(torch.ScalarType.Float32).div(255f) : image.cpu().to(torch.ScalarType.Float32);
}
