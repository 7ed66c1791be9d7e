using Tessera.Segmentation.Data;

namespace Tessera.Segmentation.Transforms;

/// <summary>
/// mmsegmentation's standard training pipeline in its order: RandomResize → RandomCrop → RandomFlip →
/// PhotoMetricDistortion → Normalize → Pad (to the crop size). Each sample's random numbers come from
/// <see cref="SampleRandom"/>(seed, step, position), drawn in that order. Null steps are skipped.
/// </summary>
/// <param name="Resize">Random rescaling, or null.</param>
/// <param name="Crop">Random crop (its size is also the pad size), or null.</param>
/// <param name="Flip">Random horizontal flip, or null.</param>
/// <param name="Photometric">Photometric distortion, or null.</param>
/// <param name="Normalize">Normalisation (ImageNet by default).</param>
public sealed record SegAugmentation(RandomResize? Resize, RandomCrop? Crop, RandomFlip? Flip, PhotoMetricDistortion? Photometric, Normalize Normalize)
{
    /// <summary>mmsegmentation's recipe for a base scale and crop size (e.g. 2048×512 and 512×512 for VOC, ADE20K and Cityscapes at 512).</summary>
    public static SegAugmentation Standard(int scaleWidth = 2048, int scaleHeight = 512, int cropHeight = 512, int cropWidth = 512) =>
        new(new RandomResize(scaleWidth, scaleHeight), new RandomCrop(cropHeight, cropWidth), new RandomFlip(), new PhotoMetricDistortion(), Normalize.ImageNet);

    /// <summary>No augmentation: normalisation only (evaluation).</summary>
    public static SegAugmentation None { get; } = new(null, null, null, null, Normalize.ImageNet);

    /// <summary>Augments one sample; deterministic in (seed, step, position).</summary>
    public NormalizedSample Apply(SegmentationSample sample, ulong seed, long step, int position)
    {
        var rng = new SampleRandom(seed, step, position);
        if (Resize is not null && Crop is not null) sample = ResizeAndCrop(sample, Resize, Crop, ref rng);
        else
        {
            if (Resize is not null) sample = Resize.Apply(sample, ref rng);
            if (Crop is not null) sample = Crop.Apply(sample, ref rng);
        }
        if (Flip is not null) sample = Flip.Apply(sample, ref rng);
        if (Photometric is not null) sample = Photometric.Apply(sample, ref rng);
        NormalizedSample n = Normalize.Apply(sample);
        return Crop is null ? n : new Pad(Math.Max(Crop.CropHeight, n.Height), Math.Max(Crop.CropWidth, n.Width)).Apply(n);
    }

    /// <summary>
    /// RandomResize then RandomCrop, fused: the label is resized whole (the crop checks it), the image only inside
    /// the chosen window. The same bytes as resizing then cropping (bilinear pixels are independent of each other),
    /// at the cost of the window instead of the whole rescaled image.
    /// </summary>
    public static SegmentationSample ResizeAndCrop(SegmentationSample sample, RandomResize resize, RandomCrop crop, ref SampleRandom rng)
    {
        var (w, h) = resize.TargetSize(sample.Width, sample.Height, ref rng);
        byte[] label = w == sample.Width && h == sample.Height ? sample.Label : Resampling.Nearest(sample.Label, sample.Width, sample.Height, 1, w, h);
        var win = crop.ChooseWindow(label, w, h, ref rng);
        return new SegmentationSample(win.W, win.H,
            Resampling.BilinearWindow(sample.Image, sample.Width, sample.Height, 3, w, h, win.X, win.Y, win.W, win.H),
            Resampling.Crop(label, w, 1, win.X, win.Y, win.W, win.H));
    }
}
