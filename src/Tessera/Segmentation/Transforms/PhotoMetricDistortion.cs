using Tessera.Segmentation.Data;

namespace Tessera.Segmentation.Transforms;

/// <summary>
/// mmsegmentation's PhotoMetricDistortion, on the image only: random brightness (add δ ∈ [−32, 32)),
/// then, by a coin, contrast (multiply by α ∈ [0.5, 1.5)) either now or last, saturation (S × α ∈
/// [0.5, 1.5) in OpenCV's 8-bit HSV) and hue (H + k, k ∈ [−18, 18), modulo 180); each step applied with
/// probability one half. Every step computes in single precision, clips to [0, 255] and truncates to
/// uint8, as mmsegmentation's convert does. Labels are untouched.
/// </summary>
/// <param name="BrightnessDelta">Largest brightness shift (32).</param>
/// <param name="ContrastLow">Contrast range, low end (0.5).</param>
/// <param name="ContrastHigh">Contrast range, high end (1.5).</param>
/// <param name="SaturationLow">Saturation range, low end (0.5).</param>
/// <param name="SaturationHigh">Saturation range, high end (1.5).</param>
/// <param name="HueDelta">Largest hue shift in OpenCV's half-degrees (18).</param>
public sealed record PhotoMetricDistortion(int BrightnessDelta = 32, double ContrastLow = 0.5, double ContrastHigh = 1.5,
    double SaturationLow = 0.5, double SaturationHigh = 1.5, int HueDelta = 18)
{
    /// <summary>The sample with its image distorted (a new image array; the label array is shared).</summary>
    public SegmentationSample Apply(SegmentationSample s, ref SampleRandom rng)
    {
        byte[] img = (byte[])s.Image.Clone();
        if (rng.Coin()) Convert(img, 1f, (float)rng.Uniform(-BrightnessDelta, BrightnessDelta));
        bool contrastFirst = rng.Int(0, 2) == 1;
        if (contrastFirst) Contrast(img, ref rng);
        if (rng.Coin())
        {
            float alpha = (float)rng.Uniform(SaturationLow, SaturationHigh);
            Hsv8.FromRgb(img);
            for (int i = 1; i < img.Length; i += 3) img[i] = Clip(img[i] * alpha);
            Hsv8.ToRgb(img);
        }
        if (rng.Coin())
        {
            int delta = rng.Int(-HueDelta, HueDelta);
            Hsv8.FromRgb(img);
            for (int i = 0; i < img.Length; i += 3) img[i] = (byte)(((img[i] + delta) % 180 + 180) % 180);
            Hsv8.ToRgb(img);
        }
        if (!contrastFirst) Contrast(img, ref rng);
        return s with { Image = img };
    }

    private void Contrast(byte[] img, ref SampleRandom rng)
    {
        if (rng.Coin()) Convert(img, (float)rng.Uniform(ContrastLow, ContrastHigh), 0f);
    }

    /// <summary>mmsegmentation's convert: x·α + β in single precision, clipped to [0, 255], truncated.</summary>
    public static void Convert(Span<byte> pixels, float alpha, float beta)
    {
        for (int i = 0; i < pixels.Length; i++) pixels[i] = Clip(pixels[i] * alpha + beta);
    }

    private static byte Clip(float x) => (byte)Math.Clamp(x, 0f, 255f);
}
