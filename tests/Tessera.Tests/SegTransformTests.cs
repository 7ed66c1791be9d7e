using Tessera.Segmentation.Transforms;

namespace Tessera.Tests;

public class SegTransformTests
{
    /// <summary>A sample whose red channel is 10 × label (ignored pixels red 250), green the column, blue the row.</summary>
    private static SegmentationSample Coded(int w, int h, Func<int, int, byte> label)
    {
        var img = new byte[3 * w * h];
        var lab = new byte[w * h];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                int i = y * w + x;
                lab[i] = label(x, y);
                img[3 * i] = lab[i] == 255 ? (byte)250 : (byte)(10 * lab[i]);
                img[3 * i + 1] = (byte)x;
                img[3 * i + 2] = (byte)y;
            }
        return new SegmentationSample(w, h, img, lab);
    }

    private static SegmentationSample RandomLabels(int w, int h, int seed, int classes)
    {
        var r = new Random(seed);
        return Coded(w, h, (_, _) => r.Next(8) == 0 ? (byte)255 : (byte)r.Next(classes));
    }

    [Fact]
    public void Rescale_rule_of_mmcv_by_hand()
    {
        // VOC's 500×375 at scale 2048×512: factor min(2048/500, 512/375) = 1.36533 → 683×512.
        Assert.Equal((683, 512), RandomResize.RescaleSize(500, 375, 2048, 512));
        // Ratio 0.5: target (1024, 256): factor 256/375 → 341×256.
        Assert.Equal((341, 256), RandomResize.RescaleSize(500, 375, 1024, 256));
        // Cityscapes 2048×1024 at 2048×1024: unchanged; a portrait image's short side (its width) goes to 512.
        Assert.Equal((2048, 1024), RandomResize.RescaleSize(2048, 1024, 2048, 1024));
        Assert.Equal((512, 683), RandomResize.RescaleSize(375, 500, 2048, 512));
        // The drawn ratio lies in [0.5, 2): the short side in [256, 1024].
        for (ulong seed = 0; seed < 200; seed++)
        {
            var rng = new SampleRandom(seed, 0, 0);
            var (w, h) = new RandomResize().TargetSize(500, 375, ref rng);
            Assert.InRange(h, 256, 1024);
            Assert.InRange(Math.Abs(w * 375.0 / 500 - h), 0, 1);
        }
    }

    [Fact]
    public void Bilinear_follows_opencv_half_pixel_rule_and_nearest_keeps_label_values()
    {
        // cv2.resize([[0, 100]], (4, 1), INTER_LINEAR) = [0, 25, 75, 100].
        Assert.Equal(new byte[] { 0, 25, 75, 100 }, Resampling.Bilinear(new byte[] { 0, 100 }, 2, 1, 1, 4, 1));
        // Halving [0, 10, 20, 30] samples midpoints 0.5 and 2.5: [5, 25].
        Assert.Equal(new byte[] { 5, 25 }, Resampling.Bilinear(new byte[] { 0, 10, 20, 30 }, 4, 1, 1, 2, 1));
        // INTER_NEAREST 3 → 5 picks ⌊x·3/5⌋ = 0, 0, 1, 1, 2.
        Assert.Equal(new byte[] { 7, 7, 8, 8, 9 }, Resampling.Nearest(new byte[] { 7, 8, 9 }, 3, 1, 1, 5, 1));
        var s = RandomLabels(37, 23, 1, 5);
        var before = s.Label.ToHashSet();
        foreach (var (w, h) in new[] { (80, 51), (11, 7), (37, 23), (74, 46), (19, 40) })
        {
            var r = RandomResize.Resize(s, w, h);
            Assert.Equal(w * h, r.Label.Length);
            Assert.Subset(before, r.Label.ToHashSet());
        }
        // An exact 2× upscale of a two-class map keeps the boundary where it was.
        var up = RandomResize.Resize(Coded(4, 4, (x, y) => (byte)(x < 2 ? 1 : 2)), 8, 8);
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++)
                Assert.Equal(x < 4 ? 1 : 2, up.Label[y * 8 + x]);
    }

    [Fact]
    public void Crop_window_check_by_hand()
    {
        var crop = new RandomCrop(1, 4, 0.75);
        // [1, 1, 1, 2]: one class holds 3/4, not below 0.75 → refused.
        Assert.False(crop.Passes(Coded(4, 1, (x, _) => x < 3 ? (byte)1 : (byte)2), (0, 0, 4, 1)));
        // [1, 1, 2, 255]: the ignored pixel does not count: 2/3 < 0.75 → kept.
        Assert.True(crop.Passes(Coded(4, 1, (x, _) => x switch { < 2 => 1, 2 => 2, _ => 255 }), (0, 0, 4, 1)));
        // One class only → refused, even at ratio 1 of 1.
        Assert.False(crop.Passes(Coded(4, 1, (_, _) => 3), (0, 0, 4, 1)));
        // A crop larger than the image gives the whole image (padding comes later).
        var small = Coded(5, 3, (x, _) => (byte)x);
        var rng = new SampleRandom(1);
        var c = new RandomCrop(8, 8).Apply(small, ref rng);
        Assert.Equal((5, 3), (c.Width, c.Height));
        Assert.Equal(small.Label, c.Label);
    }

    [Fact]
    public void Cat_max_ratio_is_honoured_with_up_to_ten_redraws()
    {
        // 30×1 strip: columns 0–19 class 0, 20–29 alternate 1/2. A 10-wide window passes only if it reaches past column 22
        // (x ≥ 13 of 0…20: 8 of 21 positions). With 11 draws almost every crop passes; without the check about 38%.
        var s = Coded(30, 1, (x, _) => x < 20 ? (byte)0 : (byte)(1 + x % 2));
        var check = new RandomCrop(1, 10, 0.75);
        var off = new RandomCrop(1, 10, 1.0);
        int passWith = 0, passWithout = 0;
        for (int seed = 0; seed < 400; seed++)
        {
            var r1 = new SampleRandom((ulong)seed, 0, 0);
            var r2 = new SampleRandom((ulong)seed, 0, 0);
            var a = check.Apply(s, ref r1);
            var b = off.Apply(s, ref r2);
            if (check.Passes(a, (0, 0, a.Width, 1))) passWith++;
            if (check.Passes(b, (0, 0, b.Width, 1))) passWithout++;
            // The crop is a window of the strip: red = 10 × label and green = column stay aligned.
            for (int x = 0; x < a.Width; x++)
            {
                int col = a.Image[3 * x + 1];
                Assert.Equal(s.Label[col], a.Label[x]);
                if (x > 0) Assert.Equal(a.Image[3 * (x - 1) + 1] + 1, col);
            }
        }
        // Expected 1 − (13/21)^11 ≈ 0.995 of 400, and 8/21 ≈ 0.38 of 400.
        Assert.InRange(passWith, 380, 400);
        Assert.InRange(passWithout, 110, 200);
    }

    [Fact]
    public void Flip_keeps_image_and_label_aligned()
    {
        var s = RandomLabels(13, 7, 2, 9);
        var f = RandomFlip.Flip(s);
        for (int y = 0; y < 7; y++)
            for (int x = 0; x < 13; x++)
            {
                int i = y * 13 + x, j = y * 13 + 12 - x;
                Assert.Equal(s.Label[j], f.Label[i]);
                Assert.Equal(f.Label[i] == 255 ? 250 : 10 * f.Label[i], f.Image[3 * i]); // colour still codes the label
                Assert.Equal(12 - x, f.Image[3 * i + 1]);
            }
        Assert.Equal(s.Label, RandomFlip.Flip(f).Label);
        int flips = 0;
        for (ulong seed = 0; seed < 400; seed++)
        {
            var rng = new SampleRandom(seed, 3, 1);
            if (!ReferenceEquals(new RandomFlip(0.5).Apply(s, ref rng), s)) flips++;
        }
        Assert.InRange(flips, 160, 240);
    }

    [Fact]
    public void Opencv_hsv_of_known_colours()
    {
        // cv2.cvtColor(uint8, COLOR_RGB2HSV): red (0, 255, 255), yellow H 30, green 60, cyan 90, blue 120, magenta 150,
        // gray (0, 0, v), (255, 128, 0) → H = round(30 · 127/255) = 15.
        (byte[] Rgb, byte[] Hsv)[] cases =
        [
            ([255, 0, 0], [0, 255, 255]), ([255, 255, 0], [30, 255, 255]), ([0, 255, 0], [60, 255, 255]),
            ([0, 255, 255], [90, 255, 255]), ([0, 0, 255], [120, 255, 255]), ([255, 0, 255], [150, 255, 255]),
            ([128, 128, 128], [0, 0, 128]), ([255, 128, 0], [15, 255, 255]), ([0, 0, 0], [0, 0, 0]), ([100, 50, 50], [0, 128, 100]),
        ];
        foreach (var (rgb, hsv) in cases)
        {
            byte[] p = (byte[])rgb.Clone();
            Hsv8.FromRgb(p);
            Assert.Equal(hsv, p);
            Hsv8.ToRgb(p);
            if (rgb[0] != 255 || rgb[1] != 128) Assert.Equal(rgb, p); // 8-bit hue steps are 2°: (255, 128, 0) comes back as (255, 128, 0) ± 1
            else Assert.InRange(Math.Abs(p[1] - 128), 0, 1);
        }
        var r = new Random(3);
        var px = new byte[3 * 1000];
        r.NextBytes(px);
        var back = (byte[])px.Clone();
        Hsv8.FromRgb(back);
        Hsv8.ToRgb(back);
        for (int i = 0; i < px.Length; i++) Assert.InRange(Math.Abs(px[i] - back[i]), 0, 5);
    }

    [Fact]
    public void Photometric_distortion_changes_images_only_and_in_its_ranges()
    {
        // mmsegmentation's convert truncates: 100·1.5 = 150, 200·1.5 → 255, 10 − 20 → 0, 100 + 0.9 → 100.
        byte[] v = [100, 200, 10, 100];
        PhotoMetricDistortion.Convert(v.AsSpan(0, 2), 1.5f, 0);
        PhotoMetricDistortion.Convert(v.AsSpan(2, 1), 1, -20);
        PhotoMetricDistortion.Convert(v.AsSpan(3, 1), 1, 0.9f);
        Assert.Equal(new byte[] { 150, 255, 0, 100 }, v);

        var s = RandomLabels(16, 16, 4, 11);
        byte[] labelCopy = (byte[])s.Label.Clone(), imageCopy = (byte[])s.Image.Clone();
        int changed = 0;
        var pmd = new PhotoMetricDistortion();
        for (ulong seed = 0; seed < 50; seed++)
        {
            var rng = new SampleRandom(seed, 0, 0);
            var d = pmd.Apply(s, ref rng);
            Assert.Same(s.Label, d.Label);
            Assert.Equal(labelCopy, d.Label);
            if (!d.Image.AsSpan().SequenceEqual(s.Image)) changed++;
        }
        Assert.Equal(imageCopy, s.Image); // the input is not modified
        Assert.InRange(changed, 40, 50);   // all four steps are skipped with probability 1/16
        // Gray pixels stay gray under saturation and hue, so a gray image only moves by brightness and contrast:
        // with δ < 32 and α in [0.5, 1.5), 100 stays within [(100 − 32)·0.5, (100 + 32)·1.5] = [34, 198].
        var gray = new SegmentationSample(4, 4, Enumerable.Repeat((byte)100, 48).ToArray(), new byte[16]);
        for (ulong seed = 0; seed < 200; seed++)
        {
            var rng = new SampleRandom(seed, 1, 0);
            var d = pmd.Apply(gray, ref rng);
            Assert.InRange(d.Image[0], 34, 198);
            Assert.True(d.Image.All(b => b == d.Image[0]));
        }
    }

    [Fact]
    public void Normalize_and_pad_by_hand()
    {
        var s = new SegmentationSample(2, 1, [0, 0, 0, 255, 255, 255], [3, 255]);
        var n = Normalize.ImageNet.Apply(s);
        Assert.Equal(-123.675f / 58.395f, n.Image[0], 5);       // R of pixel 0
        Assert.Equal((255 - 123.675f) / 58.395f, n.Image[1], 5); // R of pixel 1
        Assert.Equal((255 - 116.28f) / 57.12f, n.Image[3], 5);   // G of pixel 1
        Assert.Equal((0 - 103.53f) / 57.375f, n.Image[4], 5);    // B of pixel 0
        var p = new Pad(2, 3).Apply(n);
        Assert.Equal((3, 2), (p.Width, p.Height));
        Assert.Equal(new byte[] { 3, 255, 255, 255, 255, 255 }, p.Label);
        Assert.Equal(n.Image[0], p.Image[0]);
        Assert.Equal(n.Image[1], p.Image[1]);
        Assert.Equal(0f, p.Image[2]);
        Assert.Equal(n.Image[2], p.Image[6]); // G plane starts at 3·2
        Assert.All(new[] { 2, 3, 4, 5, 8, 9, 10, 11 }, i => Assert.Equal(0f, p.Image[i]));
    }

    [Fact]
    public void Augmentation_is_a_function_of_seed_step_and_position()
    {
        var s = RandomLabels(120, 90, 5, 4);
        var aug = SegAugmentation.Standard(256, 64, 48, 48);
        var a = aug.Apply(s, 11, 5, 2);
        var b = aug.Apply(s, 11, 5, 2);
        Assert.Equal(a.Image, b.Image);
        Assert.Equal(a.Label, b.Label);
        Assert.Equal((48, 48), (a.Width, a.Height));
        Assert.Subset(s.Label.ToHashSet(), a.Label.ToHashSet());
        int differ = 0;
        foreach (var (seed, step, pos) in new[] { (12UL, 5L, 2), (11UL, 6L, 2), (11UL, 5L, 3) })
            if (!aug.Apply(s, seed, step, pos).Image.AsSpan().SequenceEqual(a.Image)) differ++;
        Assert.Equal(3, differ);
        // A small image (not rescaled) is padded to the crop: label 255 and image 0 outside it.
        var tiny = (aug with { Resize = null }).Apply(RandomLabels(10, 8, 6, 3), 1, 0, 0);
        Assert.Equal((48, 48), (tiny.Width, tiny.Height));
        Assert.Equal(255, tiny.Label[47 * 48 + 47]);
        Assert.Equal(0f, tiny.Image[47 * 48 + 47]);
    }

    [Fact]
    public void Fused_resize_and_crop_gives_the_bytes_of_the_transforms_one_after_another()
    {
        var aug = SegAugmentation.Standard(200, 60, 48, 40);
        for (int k = 0; k < 12; k++)
        {
            var s = RandomLabels(90 + k, 70 - k, 10 + k, 5);
            var rng = new SampleRandom(5, k, 1);
            var t = aug.Resize!.Apply(s, ref rng);
            t = aug.Crop!.Apply(t, ref rng);
            t = aug.Flip!.Apply(t, ref rng);
            t = aug.Photometric!.Apply(t, ref rng);
            var expected = new Pad(48, 40).Apply(aug.Normalize.Apply(t));
            var fused = aug.Apply(s, 5, k, 1);
            Assert.Equal(expected.Label, fused.Label);
            Assert.Equal(expected.Image, fused.Image);
        }
        // The window of a bilinear resize is the crop of the whole resize.
        var img = RandomLabels(33, 21, 3, 7).Image;
        var whole = Resampling.Bilinear(img, 33, 21, 3, 70, 45);
        Assert.Equal(Resampling.Crop(whole, 70, 3, 9, 4, 30, 20), Resampling.BilinearWindow(img, 33, 21, 3, 70, 45, 9, 4, 30, 20));
    }
}
