using Tessera.Segmentation.Transforms;

namespace Tessera.Tests;

public class SegLoaderTests
{
    private static List<(long Step, torch.Tensor Images, torch.Tensor Labels, int[] Indices)> Take(ISegmentationDataset ds, LoaderOptions options, SegAugmentation aug)
    {
        var result = new List<(long, torch.Tensor, torch.Tensor, int[])>();
        using var loader = new SegmentationLoader(ds, aug, options);
        foreach (var b in loader) result.Add((b.Step, b.Images, b.Labels, b.Indices));
        return result;
    }

    // The tiny VOC folder of SegDatasetLayouts in dir, with the standard augmentation at a 40×40 crop.
    private static (VocDataset Dataset, SegAugmentation Augmentation) TinyVoc(TempDir dir)
    {
        SegDatasetLayouts.WriteVoc(dir.Path);
        return (VocDataset.Open(dir.Path, "train+val"), SegAugmentation.Standard(128, 48, 40, 40));
    }

    [Fact]
    public void Batches_do_not_depend_on_threads_and_resume_where_a_run_left_off()
    {
        using var dir = new TempDir();
        var (ds, aug) = TinyVoc(dir);
        var one = Take(ds, new LoaderOptions(BatchSize: 2, Threads: 1, Prefetch: 1, Seed: 3, Steps: 6), aug);
        var two = Take(ds, new LoaderOptions(BatchSize: 2, Threads: 2, Prefetch: 3, Seed: 3, Steps: 6), aug);
        var resumed = Take(ds, new LoaderOptions(BatchSize: 2, Threads: 2, Seed: 3, FirstStep: 4, Steps: 6), aug);
        Assert.Equal(Enumerable.Range(0, 6).Select(i => (long)i), one.Select(b => b.Step));
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal(new long[] { 2, 3, 40, 40 }, one[i].Images.shape);
            Assert.Equal(torch.ScalarType.Int64, one[i].Labels.dtype);
            Assert.True(Same.Tensors(one[i].Images, two[i].Images));
            Assert.True(Same.Tensors(one[i].Labels, two[i].Labels));
        }
        Assert.True(Same.Tensors(one[4].Images, resumed[0].Images));
        Assert.True(Same.Tensors(one[5].Labels, resumed[1].Labels));
        // Each epoch (5 samples) visits every item once: steps 0–1 and the first sample of step 2.
        var epoch0 = one[0].Indices.Concat(one[1].Indices).Append(one[2].Indices[0]).Order();
        Assert.Equal(Enumerable.Range(0, 5), epoch0);
        var labels = one.SelectMany(b => b.Labels.data<long>().ToArray()).ToHashSet();
        Assert.All(labels, v => Assert.True(v is (>= 0 and <= 20) or 255));
        foreach (var b in one.Concat(two).Concat(resumed)) { b.Images.Dispose(); b.Labels.Dispose(); }
    }

    [Fact]
    public void One_unshuffled_pass_pads_mixed_sizes_and_ends_with_a_short_batch()
    {
        using var dir = new TempDir();
        SegDatasetLayouts.WriteCustom(dir.Path);
        var ds = CustomDataset.Open(dir.Path, "train");
        // Resize only (no crop): samples of different sizes in one batch are padded to the largest.
        var aug = new SegAugmentation(new RandomResize(64, 64, 0.5, 1.5), null, null, null, Normalize.ImageNet);
        var batches = Take(ds, new LoaderOptions(BatchSize: 2, Threads: 2, Shuffle: false, Seed: 1), aug);
        Assert.Equal(2, batches.Count);
        Assert.Equal(new[] { 0, 1 }, batches[0].Indices);
        Assert.Equal(new[] { 2 }, batches[1].Indices);
        var (_, images, labels, _) = batches[0];
        var sizes = Enumerable.Range(0, 2).Select(i =>
        {
            var a = aug.Apply(ds.Load(i), 1, 0, i);
            return (a.Width, a.Height);
        }).ToList();
        Assert.NotEqual(sizes[0], sizes[1]);
        Assert.Equal(sizes.Max(s => s.Height), images.shape[2]);
        Assert.Equal(sizes.Max(s => s.Width), images.shape[3]);
        int small = sizes[0].Width < sizes[1].Width ? 0 : 1;
        Assert.Equal(255, labels[small, 0, -1].item<long>());
        Assert.Equal(255, labels[small, -1, 0].item<long>());
        Assert.Equal(0f, images[small, 0, 0, -1].item<float>());
        foreach (var b in batches) { b.Images.Dispose(); b.Labels.Dispose(); }
    }

    [Fact]
    public void A_bad_file_surfaces_as_the_format_error_naming_it()
    {
        using var dir = new TempDir();
        SegDatasetLayouts.WriteCustom(dir.Path);
        var ds = CustomDataset.Open(dir.Path, "train");
        File.WriteAllText(ds[1].Image, "garbage");
        using var loader = new SegmentationLoader(ds, SegAugmentation.None, new LoaderOptions(BatchSize: 1, Threads: 2, Shuffle: false));
        var e = Assert.Throws<TesseraFormatException>(() => { foreach (var b in loader) b.Dispose(); });
        Assert.Equal(ds[1].Image, e.Path);
    }

    [Fact]
    public void The_parts_two_ranks_load_are_the_whole_batch_sample_for_sample()
    {
        using var dir = new TempDir();
        var (ds, aug) = TinyVoc(dir);
        // A batch of 4 as 4 micro-batches over 2 ranks (2 each), against the whole batch in one piece; from step 1, as on resume.
        var whole = Take(ds, new LoaderOptions(BatchSize: 4, Threads: 2, Seed: 3, FirstStep: 1, Steps: 3), aug);
        var rank0 = new List<SegmentationBatch>();
        var rank1 = new List<SegmentationBatch>();
        foreach (var (rank, into) in new[] { (0, rank0), (1, rank1) })
        {
            using var loader = new SegmentationLoader(ds, aug, new LoaderOptions(BatchSize: 4, Threads: 2, Seed: 3, FirstStep: 1, Steps: 3) { Parts = 4, FirstPart = 2 * rank, PartCount = 2 });
            into.AddRange(loader);
        }
        Assert.Equal(new long[] { 1, 1, 2, 2 }, rank0.Select(b => b.Step));
        Assert.Equal(new[] { 0, 1, 0, 1 }, rank0.Select(b => b.Part));
        Assert.Equal(new[] { 2, 3, 2, 3 }, rank1.Select(b => b.Part));
        for (int s = 0; s < 2; s++)
        {
            var parts = new[] { rank0[2 * s], rank0[2 * s + 1], rank1[2 * s], rank1[2 * s + 1] };
            Assert.All(parts, p => Assert.Equal(1, p.Images.shape[0]));
            Assert.Equal(whole[s].Indices, parts.SelectMany(p => p.Indices));
            Assert.True(Same.Tensors(whole[s].Images, torch.cat(parts.Select(p => p.Images).ToArray())));
            Assert.True(Same.Tensors(whole[s].Labels, torch.cat(parts.Select(p => p.Labels).ToArray())));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => new SegmentationLoader(ds, aug, new LoaderOptions(BatchSize: 4, Steps: 2) { Parts = 3 }));
        foreach (var b in rank0.Concat(rank1)) b.Dispose();
        foreach (var b in whole) { b.Images.Dispose(); b.Labels.Dispose(); }
    }
}
