namespace Tessera.Tests;

/// <summary>Automatic mask generation pieces, each against a hand-worked example of the official rule.</summary>
public sealed class SamAmgTests
{
    [Fact]
    public void Rle_runs_are_column_major_and_start_with_background()
    {
        // [[0,1],[1,1],[0,0]] read down the columns: 0,1,0 | 1,1,0 → runs 1,1,1,2,1.
        bool[] mask = [false, true, true, true, false, false];
        var rle = MaskRle.Encode(mask, 3, 2);
        Assert.Equal(new long[] { 1, 1, 1, 2, 1 }, rle.Counts);
        Assert.Equal(3, rle.Area);
        Assert.Equal(mask, rle.Decode());
        Assert.Equal(new long[] { 0, 6 }, MaskRle.Encode(Enumerable.Repeat(true, 6).ToArray(), 2, 3).Counts);
    }

    [Fact]
    public void Coco_strings_follow_the_delta_and_five_bit_rules()
    {
        // Worked by hand from pycocotools' rleToString: 1,1,1 literal; 2 − 1 = 1; 1 − 1 = 0.
        Assert.Equal("11110", new MaskRle(3, 2, [1, 1, 1, 2, 1]).ToCocoString());
        // 100 = 0b11_00100: low group 4 with the continuation bit (4 | 32) + 48 = 'T', then 3 → '3'.
        Assert.Equal("T3", new MaskRle(10, 10, [100]).ToCocoString());
        // 2 − 5 = −3: one group, 29 + 48 = 'M' (sign bit set, the rest is all ones).
        Assert.Equal("05:M", new MaskRle(17, 1, [0, 5, 10, 2]).ToCocoString());
        var random = new Random(3);
        for (int trial = 0; trial < 20; trial++)
        {
            int h = random.Next(1, 40), w = random.Next(1, 40);
            var m = Enumerable.Range(0, h * w).Select(_ => random.NextDouble() < (trial % 3 == 0 ? 0.02 : 0.5)).ToArray();
            var rle = MaskRle.Encode(m, h, w);
            var back = MaskRle.FromCocoString(rle.ToCocoString(), h, w);
            Assert.Equal(rle.Counts, back.Counts);
            Assert.Equal(m, back.Decode());
        }
    }

    [Fact]
    public void Point_grid_and_crop_boxes_match_the_official_layout()
    {
        var g = AutomaticMaskGenerator.PointGrid(2);
        Assert.Equal(new[] { 0.25, 0.25, 0.75, 0.25, 0.25, 0.75, 0.75, 0.75 }, g.Cast<double>());
        // 100×100, one crop layer, overlap ratio 512/1500: overlap int(34.13) = 34, crop side ceil(134/2) = 67.
        var crops = AutomaticMaskGenerator.CropBoxes(100, 100, 1, 512.0 / 1500);
        Assert.Equal(new[] { "0,0,100,100,0", "0,0,67,67,1", "0,33,67,100,1", "33,0,100,67,1", "33,33,100,100,1" },
            crops.Select(c => string.Join(",", c.Box) + "," + c.Layer));
    }

    [Fact]
    public void Boxes_stability_and_nms_follow_their_definitions()
    {
        var masks = torch.zeros(3, 5, 6, torch.ScalarType.Bool);
        masks[0, 1..3, 2..5] = true; // rows 1–2, columns 2–4
        masks[1, 4, 0] = true;
        Assert.Equal(new long[] { 2, 1, 4, 2, 0, 4, 0, 4, 0, 0, 0, 0 }, AutomaticMaskGenerator.MaskToBox(masks).data<long>().ToArray());

        var logits = torch.tensor(new float[] { -2f, -0.5f, 0.5f, 1.5f, 3f, 0.9f }, [1, 2, 3]);
        // > 1: {1.5, 3} = 2 pixels; > −1: 5 pixels.
        Assert.Equal(0.4f, AutomaticMaskGenerator.StabilityScore(logits, 0, 1).item<float>(), 6);

        double[][] boxes = [[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30], [0, 0, 10, 5]];
        // IoU(0,1) = 81/100 > 0.7 → 1 goes; IoU(0,3) = 50/100 stays.
        Assert.Equal(new[] { 0, 2, 3 }, AutomaticMaskGenerator.Nms(boxes, [0.9, 0.8, 0.7, 0.6], 0.7));
    }

    [Fact]
    public void Small_holes_are_filled_and_small_islands_removed_unless_nothing_would_remain()
    {
        const int h = 7, w = 7;
        var mask = new bool[h * w];
        for (int y = 1; y <= 4; y++) for (int x = 1; x <= 4; x++) mask[y * w + x] = true;
        mask[2 * w + 2] = false; // a one-pixel hole
        mask[6 * w + 6] = true; // a one-pixel island
        var (filled, changed) = SmallRegions.Remove(mask, h, w, 3, holes: true);
        Assert.True(changed);
        Assert.True(filled[2 * w + 2]);
        var (clean, changed2) = SmallRegions.Remove(filled, h, w, 3, holes: false);
        Assert.True(changed2);
        Assert.False(clean[6 * w + 6]);
        Assert.Equal(16, clean.Count(v => v));
        // Diagonal neighbours are connected (8-connectivity): no change for a diagonal pair of area 2 with threshold 2.
        var diag = new bool[h * w];
        diag[0] = diag[w + 1] = true;
        Assert.False(SmallRegions.Remove(diag, h, w, 2, holes: false).Changed);
        // Only small islands: the largest survives.
        var (kept, _) = SmallRegions.Remove(diag, h, w, 5, holes: false);
        Assert.Equal(2, kept.Count(v => v));
    }
}
