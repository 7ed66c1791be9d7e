namespace Tessera.Segmentation.Sam.Inference;

/// <summary>
/// SAM's input geometry: the image is resized so its long side is L (scale = L / max(h, w), each side
/// rounded half up), and prompt coordinates are scaled per axis by new/old size, as the official
/// <c>ResizeLongestSide</c> transform does.
/// </summary>
public sealed class ResizeLongestSide(int targetLength)
{
    /// <summary>The long side L.</summary>
    public int TargetLength { get; } = targetLength;

    /// <summary>The resized (h, w) of an image of (h, w).</summary>
    public static (int H, int W) PreprocessShape(int height, int width, int longSide)
    {
        double scale = longSide * 1.0 / Math.Max(height, width);
        return ((int)(height * scale + 0.5), (int)(width * scale + 0.5));
    }

    /// <summary>The resized (h, w) of an image of (h, w) for this transform.</summary>
    public (int H, int W) ShapeFor(int height, int width) => PreprocessShape(height, width, TargetLength);

    /// <summary>Resizes an RGB image [h, w, 3] (bytes, row-major) with Pillow's bilinear filter.</summary>
    public (byte[] Pixels, int H, int W) ApplyImage(ReadOnlySpan<byte> rgb, int height, int width)
    {
        var (h, w) = ShapeFor(height, width);
        return (PilBilinear.Resize(rgb, height, width, 3, h, w), h, w);
    }

    /// <summary>Maps a point (x, y) of the original image into the resized frame.</summary>
    public (double X, double Y) ApplyCoords(double x, double y, (int H, int W) original)
    {
        var (h, w) = ShapeFor(original.H, original.W);
        return (x * ((double)w / original.W), y * ((double)h / original.H));
    }

    /// <summary>Maps a box (x0, y0, x1, y1) of the original image into the resized frame.</summary>
    public (double X0, double Y0, double X1, double Y1) ApplyBox((double X0, double Y0, double X1, double Y1) box, (int H, int W) original)
    {
        var (x0, y0) = ApplyCoords(box.X0, box.Y0, original);
        var (x1, y1) = ApplyCoords(box.X1, box.Y1, original);
        return (x0, y0, x1, y1);
    }
}
