using Tessera.Segmentation.Data;

namespace Tessera.Segmentation.Transforms;

/// <summary>
/// mmsegmentation's RandomResize with a ratio range: draws r uniformly in [min, max), scales the base
/// scale to (⌊W·r⌋, ⌊H·r⌋) and, keeping the aspect ratio, resizes the image so that its long side fits
/// the long target side and its short side the short one (mmcv's rescale rule); images bilinear, labels
/// nearest.
/// </summary>
/// <param name="ScaleWidth">Base scale, long side (e.g. 2048).</param>
/// <param name="ScaleHeight">Base scale, short side (e.g. 512).</param>
/// <param name="MinRatio">Smallest ratio (0.5).</param>
/// <param name="MaxRatio">Largest ratio (2.0).</param>
/// <param name="KeepRatio">Keep the aspect ratio (mmcv's imrescale); false resizes to the target exactly.</param>
public sealed record RandomResize(int ScaleWidth = 2048, int ScaleHeight = 512, double MinRatio = 0.5, double MaxRatio = 2.0, bool KeepRatio = true)
{
    /// <summary>
    /// mmcv's rescale_size: factor f = min(long/max(h, w), short/min(h, w)) for the target's long and
    /// short sides; the new size is (⌊w·f + ½⌋, ⌊h·f + ½⌋).
    /// </summary>
    public static (int Width, int Height) RescaleSize(int width, int height, int targetWidth, int targetHeight)
    {
        double longEdge = Math.Max(targetWidth, targetHeight), shortEdge = Math.Min(targetWidth, targetHeight);
        double f = Math.Min(longEdge / Math.Max(width, height), shortEdge / Math.Min(width, height));
        return (Math.Max(1, (int)(width * f + 0.5)), Math.Max(1, (int)(height * f + 0.5)));
    }

    /// <summary>The size a sample of <paramref name="width"/> × <paramref name="height"/> is resized to; draws one number.</summary>
    public (int Width, int Height) TargetSize(int width, int height, ref SampleRandom rng)
    {
        double ratio = rng.NextDouble() * (MaxRatio - MinRatio) + MinRatio;
        int tw = (int)(ScaleWidth * ratio), th = (int)(ScaleHeight * ratio);
        return KeepRatio ? RescaleSize(width, height, tw, th) : (Math.Max(1, tw), Math.Max(1, th));
    }

    /// <summary>Resizes the sample.</summary>
    public SegmentationSample Apply(SegmentationSample s, ref SampleRandom rng)
    {
        var (w, h) = TargetSize(s.Width, s.Height, ref rng);
        return Resize(s, w, h);
    }

    /// <summary>Resizes a sample to <paramref name="width"/> × <paramref name="height"/>: image bilinear, label nearest.</summary>
    public static SegmentationSample Resize(SegmentationSample s, int width, int height)
    {
        if (width == s.Width && height == s.Height) return s;
        return new SegmentationSample(width, height,
            Resampling.Bilinear(s.Image, s.Width, s.Height, 3, width, height),
            Resampling.Nearest(s.Label, s.Width, s.Height, 1, width, height));
    }
}
