using TorchSharp;

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
