namespace Tessera.Segmentation.Data;

/// <summary>
/// One decoded image and its label map in plain arrays, the form the augmentation transforms work on:
/// the image interleaved RGB (height × width × 3 bytes, row-major), the label one byte per pixel
/// (255 = ignored).
/// </summary>
/// <param name="Width">Width in pixels.</param>
/// <param name="Height">Height in pixels.</param>
/// <param name="Image">Height × Width × 3 bytes, RGB interleaved.</param>
/// <param name="Label">Height × Width class indices.</param>
public sealed record SegmentationSample(int Width, int Height, byte[] Image, byte[] Label)
{
    /// <summary>The ignore index of labels: pixels that count neither in the loss nor in the metrics.</summary>
    public const byte IgnoreIndex = 255;

    /// <summary>An image without labels (every pixel <see cref="IgnoreIndex"/>), for prediction.</summary>
    /// <param name="width">Width in pixels.</param>
    /// <param name="height">Height in pixels.</param>
    /// <param name="rgb">Height × Width × 3 bytes, RGB interleaved.</param>
    public static SegmentationSample Unlabelled(int width, int height, byte[] rgb)
    {
        var label = new byte[width * height];
        Array.Fill(label, IgnoreIndex);
        return new SegmentationSample(width, height, rgb, label);
    }

    /// <summary>An image without labels from uint8 RGB [3, H, W] (as <see cref="IO.ImageIO.Load"/> gives).</summary>
    public static SegmentationSample FromImage(torch.Tensor rgb)
    {
        if (rgb.dtype != torch.ScalarType.Byte || rgb.dim() != 3 || rgb.shape[0] != 3) throw new ArgumentException("expected uint8 RGB [3, H, W]", nameof(rgb));
        using var interleaved = rgb.permute(1, 2, 0).contiguous().cpu();
        return Unlabelled((int)rgb.shape[2], (int)rgb.shape[1], interleaved.bytes.ToArray());
    }

    /// <summary>The image as uint8 [3, H, W].</summary>
    public torch.Tensor ImageTensor()
    {
        var t = torch.empty([3, Height, Width], torch.ScalarType.Byte);
        Span<byte> dst = t.bytes;
        int plane = Width * Height;
        for (int i = 0; i < plane; i++)
        {
            dst[i] = Image[3 * i];
            dst[plane + i] = Image[3 * i + 1];
            dst[2 * plane + i] = Image[3 * i + 2];
        }
        return t;
    }

    /// <summary>The label map as uint8 [H, W].</summary>
    public torch.Tensor LabelTensor() => torch.tensor(Label, torch.ScalarType.Byte).reshape(Height, Width);
}
