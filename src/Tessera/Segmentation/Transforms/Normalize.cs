using Tessera.Segmentation.Data;

namespace Tessera.Segmentation.Transforms;

/// <summary>
/// Per-channel normalisation x' = (x − mean) / std of RGB pixel values in [0, 255], interleaved RGB
/// bytes to float planes [3, H, W]. Defaults: ImageNet's statistics as mmsegmentation writes them
/// (mean 123.675, 116.28, 103.53; std 58.395, 57.12, 57.375).
/// </summary>
/// <param name="Mean">Mean per RGB channel.</param>
/// <param name="Std">Standard deviation per RGB channel.</param>
public sealed record Normalize(float[] Mean, float[] Std)
{
    /// <summary>ImageNet's statistics on the 0–255 scale.</summary>
    public static Normalize ImageNet { get; } = new([123.675f, 116.28f, 103.53f], [58.395f, 57.12f, 57.375f]);

    /// <summary>Normalises the image; the label passes through.</summary>
    public NormalizedSample Apply(SegmentationSample s)
    {
        int plane = s.Width * s.Height;
        var dst = new float[3 * plane];
        Write(s.Image, plane, dst);
        return new NormalizedSample(s.Width, s.Height, dst, s.Label);
    }

    /// <summary>Writes the normalised planes of <paramref name="rgb"/> (interleaved, <paramref name="plane"/> pixels) into <paramref name="dst"/>.</summary>
    public void Write(ReadOnlySpan<byte> rgb, int plane, Span<float> dst)
    {
        for (int c = 0; c < 3; c++)
        {
            float inv = 1f / Std[c], shift = Mean[c] * inv;
            var d = dst.Slice(c * plane, plane);
            for (int i = 0; i < plane; i++) d[i] = rgb[3 * i + c] * inv - shift;
        }
    }
}
