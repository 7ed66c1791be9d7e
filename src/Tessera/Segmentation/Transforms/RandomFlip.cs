using Tessera.Segmentation.Data;

namespace Tessera.Segmentation.Transforms;

/// <summary>mmsegmentation's RandomFlip: mirrors image and label left to right together with probability <see cref="Probability"/>.</summary>
/// <param name="Probability">Chance of a flip (0.5).</param>
public sealed record RandomFlip(double Probability = 0.5)
{
    /// <summary>Flips the sample or not; draws one number.</summary>
    public SegmentationSample Apply(SegmentationSample s, ref SampleRandom rng) => rng.NextDouble() < Probability ? Flip(s) : s;

    /// <summary>The sample mirrored left to right.</summary>
    public static SegmentationSample Flip(SegmentationSample s)
    {
        var image = new byte[s.Image.Length];
        var label = new byte[s.Label.Length];
        int w = s.Width;
        for (int y = 0; y < s.Height; y++)
        {
            int row = y * w;
            for (int x = 0; x < w; x++)
            {
                int from = row + x, to = row + w - 1 - x;
                label[to] = s.Label[from];
                image[3 * to] = s.Image[3 * from];
                image[3 * to + 1] = s.Image[3 * from + 1];
                image[3 * to + 2] = s.Image[3 * from + 2];
            }
        }
        return new SegmentationSample(s.Width, s.Height, image, label);
    }
}
