using Tessera.Segmentation.Data;
using Tessera.Segmentation.Transforms;

namespace Tessera.Bench;

/// <summary>
/// The segmentation data pipeline: images/s delivered by <see cref="SegmentationLoader"/> with
/// mmsegmentation's training transforms (RandomResize 2048×512 ratio 0.5–2, RandomCrop 512×512 with
/// cat_max_ratio 0.75, flip, photometric distortion, normalise, pad) on VOC-sized JPEGs (500×375) with
/// palette PNG labels, against a PyTorch DataLoader doing the same with PIL and numpy
/// (scripts/seg_data_torch.py, Debian's python3-torch), the same number of worker threads.
/// </summary>
internal static class SegDataBench
{
    private const int Images = 48, Width = 500, Height = 375, Batch = 8;

    public static void Run(string[] args)
    {
        int threads = BenchSetup.Arg(args, 0, Environment.ProcessorCount);
        int steps = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 24;
        torch.set_num_threads(1);
        string dir = Directory.CreateTempSubdirectory("tessera-segdata-").FullName;
        try
        {
            Write(dir);
            var ds = VocDataset.Open(dir, "train");
            ds.Validate();
            var aug = SegAugmentation.Standard();
            Stages(ds, aug);
            using var loader = new SegmentationLoader(ds, aug, new LoaderOptions(BatchSize: Batch, Threads: threads, Prefetch: 2 * threads, Seed: 1, Steps: steps + 2));
            Stopwatch? sw = null;
            int seen = 0;
            foreach (var b in loader)
            {
                using (b)
                {
                    if (b.Step == 1) sw = Stopwatch.StartNew(); // after the first two batches: threads warm
                    else if (b.Step > 1) seen += (int)b.Images.shape[0];
                }
            }
            double tessera = seen / sw!.Elapsed.TotalSeconds;
            Console.WriteLine($"VOC-sized JPEGs {Width}x{Height} -> 512x512 crops, batch {Batch}, {threads} threads, {steps} batches timed");
            Console.WriteLine($"Tessera SegmentationLoader       {tessera,8:0.0} images/s");
            var py = PythonBaseline.Run("seg_data_torch.py", dir, threads.ToString(System.Globalization.CultureInfo.InvariantCulture),
                Batch.ToString(System.Globalization.CultureInfo.InvariantCulture), steps.ToString(System.Globalization.CultureInfo.InvariantCulture));
            if (py.TryGetValue("images_per_second", out double torchRate))
                Console.WriteLine($"PyTorch DataLoader (PIL, numpy)  {torchRate,8:0.0} images/s   Tessera/PyTorch {tessera / torchRate:0.00}x");
            else
                Console.WriteLine("PyTorch DataLoader               (not run: /usr/bin/python3 with torch, numpy and PIL not found; apt-get install python3-torch python3-pil)");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    /// <summary>Milliseconds per sample of each stage on one thread (best of the samples' means over three rounds).</summary>
    private static void Stages(VocDataset ds, SegAugmentation aug)
    {
        var names = new[] { "decode", "resize+crop (fused)", "(unfused resize, crop)", "flip", "photometric", "normalize+pad" };
        var best = Enumerable.Repeat(double.MaxValue, names.Length).ToArray();
        for (int round = 0; round < 3; round++)
        {
            var t = new double[names.Length];
            for (int i = 0; i < 16; i++)
            {
                var rng = new SampleRandom(9, round, i);
                var sw = Stopwatch.StartNew();
                var s = ds.Load(i);
                t[0] += sw.Elapsed.TotalMilliseconds; sw.Restart();
                var copy = rng;
                var raw = s;
                s = SegAugmentation.ResizeAndCrop(s, aug.Resize!, aug.Crop!, ref rng);
                t[1] += sw.Elapsed.TotalMilliseconds; sw.Restart();
                var unfused = aug.Crop!.Apply(aug.Resize!.Apply(raw, ref copy), ref copy);
                t[2] += sw.Elapsed.TotalMilliseconds; sw.Restart();
                s = aug.Flip!.Apply(s, ref rng);
                t[3] += sw.Elapsed.TotalMilliseconds; sw.Restart();
                s = aug.Photometric!.Apply(s, ref rng);
                t[4] += sw.Elapsed.TotalMilliseconds; sw.Restart();
                new Pad(512, 512).Apply(aug.Normalize.Apply(s));
                t[5] += sw.Elapsed.TotalMilliseconds;
            }
            for (int k = 0; k < names.Length; k++) best[k] = Math.Min(best[k], t[k] / 16);
        }
        Console.WriteLine("per sample, one thread: " + string.Join(", ", names.Select((n, k) => $"{n} {best[k]:0.0} ms")));
    }

    /// <summary>A VOC layout of blocky scenes: 21 classes in 25×25-pixel cells, 255 on cell borders, textured colours.</summary>
    private static void Write(string root)
    {
        string voc = Path.Combine(root, "VOCdevkit", "VOC2012");
        foreach (string d in new[] { "JPEGImages", "SegmentationClass", "ImageSets/Segmentation" }) Directory.CreateDirectory(Path.Combine(voc, d));
        var palette = VocDataset.FilePalette;
        var ids = new List<string>();
        for (int n = 0; n < Images; n++)
        {
            var rng = new Random(n);
            var cellClass = new byte[(Width / 25 + 1) * (Height / 25 + 1)];
            for (int i = 0; i < cellClass.Length; i++) cellClass[i] = (byte)(rng.Next(3) == 0 ? rng.Next(21) : 0);
            var label = new byte[Width * Height];
            var rgb = new byte[3 * Width * Height];
            for (int y = 0; y < Height; y++)
                for (int x = 0; x < Width; x++)
                {
                    int i = y * Width + x;
                    byte c = cellClass[y / 25 * (Width / 25 + 1) + x / 25];
                    label[i] = x % 25 == 0 || y % 25 == 0 ? (byte)255 : c;
                    for (int k = 0; k < 3; k++) rgb[k * Width * Height + i] = (byte)Math.Clamp(palette[c][k] / 2 + 60 + rng.Next(-30, 31), 0, 255);
                }
            string id = $"2012_{n:000000}";
            using (var t = torch.tensor(rgb, torch.ScalarType.Byte).reshape(3, Height, Width))
                ImageIO.SaveJpeg(t, Path.Combine(voc, "JPEGImages", id + ".jpg"), 90);
            PalettePng.Write(Path.Combine(voc, "SegmentationClass", id + ".png"), label, Width, Height, palette);
            ids.Add(id);
        }
        File.WriteAllLines(Path.Combine(voc, "ImageSets/Segmentation/train.txt"), ids);
    }
}
